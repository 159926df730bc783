package tlib

// Request names (client → server).
const (
	RequestOpen              = "RequestOpen"
	RequestRegisterAddress   = "RequestRegisterAddress"
	RequestUnregisterAddress = "RequestUnregisterAddress"
	RequestRouteCall         = "RequestRouteCall"
	RequestPrivateService    = "RequestPrivateService"
	RequestMonitorNextCall   = "RequestMonitorNextCall"
	RequestCancelMonitoring  = "RequestCancelMonitoring"
	RequestAttachUserData    = "RequestAttachUserData"
	RequestUpdateUserData    = "RequestUpdateUserData"
	RequestDeleteUserData    = "RequestDeleteUserData"
	RequestReleaseCall       = "RequestReleaseCall"
	RequestMakeCall          = "RequestMakeCall"
	RequestAnswerCall        = "RequestAnswerCall"
	RequestHoldCall          = "RequestHoldCall"
	RequestRetrieveCall      = "RequestRetrieveCall"
)

// Event names (server → client).
const (
	EventServerInfo          = "EventServerInfo"
	EventRegistered          = "EventRegistered"
	EventUnregistered        = "EventUnregistered"
	EventRinging             = "EventRinging"
	EventDialing             = "EventDialing"
	EventEstablished         = "EventEstablished"
	EventReleased            = "EventReleased"
	EventHeld                = "EventHeld"
	EventRetrieved           = "EventRetrieved"
	EventPartyChanged        = "EventPartyChanged"
	EventAttachedDataChanged = "EventAttachedDataChanged"
	EventRouteRequest        = "EventRouteRequest"
	EventRouteUsed           = "EventRouteUsed"
	EventMonitoringNextCall  = "EventMonitoringNextCall"
	EventMonitoringCancelled = "EventMonitoringCancelled"
	EventPrivateInfo         = "EventPrivateInfo"
	EventACK                 = "EventACK"
	EventError               = "EventError"
	// EventLinkDisconnected and EventLinkConnected are synthesised by the
	// Client on its Events channel when the connection to the server is lost
	// and when it has been re-established (re-opened and re-registered).
	// A server may also send EventLinkDisconnected, e.g. when it loses its
	// own switch side; EventLinkConnected never travels on the wire.
	EventLinkDisconnected = "EventLinkDisconnected"
	EventLinkConnected    = "EventLinkConnected"
)

// requests is the set of request names; the value tells whether the
// request is performed by the Handler (true) or by the Server itself.
var requests = map[string]bool{
	RequestOpen:              false,
	RequestRegisterAddress:   false,
	RequestUnregisterAddress: false,
	RequestRouteCall:         true,
	RequestPrivateService:    true,
	RequestMonitorNextCall:   true,
	RequestCancelMonitoring:  true,
	RequestAttachUserData:    true,
	RequestUpdateUserData:    true,
	RequestDeleteUserData:    true,
	RequestReleaseCall:       true,
	RequestMakeCall:          true,
	RequestAnswerCall:        true,
	RequestHoldCall:          true,
	RequestRetrieveCall:      true,
}

var events = map[string]bool{
	EventServerInfo: true, EventRegistered: true, EventUnregistered: true,
	EventRinging: true, EventDialing: true, EventEstablished: true, EventReleased: true,
	EventHeld: true, EventRetrieved: true, EventPartyChanged: true,
	EventAttachedDataChanged: true, EventRouteRequest: true, EventRouteUsed: true,
	EventMonitoringNextCall: true, EventMonitoringCancelled: true, EventPrivateInfo: true,
	EventACK: true, EventError: true, EventLinkDisconnected: true, EventLinkConnected: true,
}

// IsRequest reports whether name is a known request name.
func IsRequest(name string) bool { _, ok := requests[name]; return ok }

// IsEvent reports whether name is a known event name.
func IsEvent(name string) bool { return events[name] }

// Party roles (ThisDNRole, OtherDNRole, ThirdPartyDNRole).
const (
	RoleOrigination      = "Origination"
	RoleDestination      = "Destination"
	RoleConferenceMember = "ConferenceMember"
	RoleNewParty         = "NewParty"
	RoleAddedBy          = "AddedBy"
	RoleDeletedBy        = "DeletedBy"
	RoleTransferredBy    = "TransferredBy"
	RoleObserver         = "Observer"
	RoleRoutingPoint     = "RoutingPoint"
)

// Call types (CallType).
const (
	CallTypeInternal = "Internal"
	CallTypeInbound  = "Inbound"
	CallTypeOutbound = "Outbound"
	CallTypeConsult  = "Consult"
)

// Call states (CallState), mainly on EventReleased.
const (
	CallStateOK            = "Ok"
	CallStateTransferred   = "Transferred"
	CallStateConferenced   = "Conferenced"
	CallStateBusy          = "Busy"
	CallStateNoAnswer      = "NoAnswer"
	CallStateRemoteRelease = "RemoteRelease"
	CallStateRejected      = "Rejected"
	CallStateError         = "Error"
)

// Register modes (RegisterMode) of RequestRegisterAddress.
const (
	// ModeShare (the default) lets any number of clients register the DN.
	ModeShare = "ModeShare"
	// ModePrivate makes the registration exclusive: refused when another
	// client holds the DN, and while held, other registrations are refused.
	ModePrivate = "ModePrivate"
	// ModeMonitorAll registers for the events of every DN (recorders,
	// monitoring tools). ThisDN is empty or MonitorAllDN.
	ModeMonitorAll = "ModeMonitorAll"
)

// MonitorAllDN is the ThisDN that the server reports in EventRegistered and
// EventUnregistered for a ModeMonitorAll registration.
const MonitorAllDN = "*"

// Monitor modes (MonitorMode) of RequestMonitorNextCall.
const (
	MonitorModeMute    = "mute"    // supervisor hears both parties, nobody hears the supervisor
	MonitorModeCoach   = "coach"   // the agent hears the supervisor, the customer does not
	MonitorModeConnect = "connect" // three-way: everybody hears everybody
)

// Monitor scopes (MonitorScope) of RequestMonitorNextCall.
const (
	MonitorScopeCall  = "call"  // monitoring ends with the next call
	MonitorScopeAgent = "agent" // monitoring continues for every call until cancelled
)

// Recording private services (PrivateMsgID of RequestPrivateService).
// These are the arlab defaults; the SIP Server can be configured with other
// numbers, so clients should make them configurable too.
const (
	PrivateRecordStart  = 3013 // GSIP_RECORD_START
	PrivateRecordStop   = 3014 // GSIP_RECORD_STOP
	PrivateRecordPause  = 3015 // GSIP_RECORD_PAUSE
	PrivateRecordResume = 3016 // GSIP_RECORD_RESUME
)

// User-data keys and values the SIP Server uses to announce recording state
// in EventAttachedDataChanged.
const (
	KeyRecord         = "GSIP_RECORD"
	KeyRecordFilename = "GSIP_REC_FN"

	RecordOn        = "ON"
	RecordPaused    = "PAUSED"
	RecordOff       = "OFF"
	RecordPrerecord = "PRERECORD"
	RecordFailed    = "FAILED"
)
