package tlib

// Validate checks the mandatory attributes of a request and the domain of
// enumerated attributes. Events are accepted as long as the name is known.
// The returned error is an *Error (ErrUnknownRequest, ErrMissingAttribute or
// ErrInvalidAttribute) ready to be sent as EventError.
func (m *Message) Validate() error {
	if m.Name == "" {
		return Errorf(ErrMalformed, `missing "message"`)
	}
	if !IsRequest(m.Name) {
		if IsEvent(m.Name) {
			return nil
		}
		return Errorf(ErrUnknownRequest, "%q", m.Name)
	}
	need := func(attrs ...string) error {
		for _, a := range attrs {
			if m.attr(a) == "" {
				return Errorf(ErrMissingAttribute, "%s: %s is required", m.Name, a)
			}
		}
		return nil
	}
	switch m.Name {
	case RequestOpen:
		return need("ApplicationName")
	case RequestRegisterAddress, RequestUnregisterAddress:
		switch m.RegisterMode {
		case ModeMonitorAll:
			if m.ThisDN != "" && m.ThisDN != MonitorAllDN {
				return Errorf(ErrInvalidAttribute, "%s: ThisDN must be empty or %q with %s", m.Name, MonitorAllDN, ModeMonitorAll)
			}
			return nil
		case "", ModeShare, ModePrivate:
			if m.ThisDN == MonitorAllDN {
				return Errorf(ErrInvalidAttribute, "%s: ThisDN %q needs RegisterMode %s", m.Name, MonitorAllDN, ModeMonitorAll)
			}
			return need("ThisDN")
		default:
			return Errorf(ErrInvalidAttribute, "%s: RegisterMode %q", m.Name, m.RegisterMode)
		}
	case RequestRouteCall:
		return need("ThisDN", "ConnID", "OtherDN")
	case RequestPrivateService:
		if m.PrivateMsgID <= 0 {
			return Errorf(ErrMissingAttribute, "%s: PrivateMsgID is required", m.Name)
		}
		return need("ThisDN")
	case RequestMonitorNextCall:
		switch m.MonitorMode {
		case "", MonitorModeMute, MonitorModeCoach, MonitorModeConnect:
		default:
			return Errorf(ErrInvalidAttribute, "%s: MonitorMode %q", m.Name, m.MonitorMode)
		}
		switch m.MonitorScope {
		case "", MonitorScopeCall, MonitorScopeAgent:
		default:
			return Errorf(ErrInvalidAttribute, "%s: MonitorScope %q", m.Name, m.MonitorScope)
		}
		return need("ThisDN", "OtherDN")
	case RequestCancelMonitoring:
		return need("ThisDN", "OtherDN")
	case RequestAttachUserData, RequestUpdateUserData, RequestDeleteUserData:
		if err := need("ThisDN", "ConnID"); err != nil {
			return err
		}
		if len(m.UserData) == 0 {
			return Errorf(ErrMissingAttribute, "%s: UserData is required", m.Name)
		}
		return nil
	case RequestMakeCall:
		return need("ThisDN", "OtherDN")
	default: // RequestReleaseCall, RequestAnswerCall, RequestHoldCall, RequestRetrieveCall
		return need("ThisDN", "ConnID")
	}
}

// attr returns the string attributes that Validate may require.
func (m *Message) attr(name string) string {
	switch name {
	case "ApplicationName":
		return m.ApplicationName
	case "ThisDN":
		return m.ThisDN
	case "OtherDN":
		return m.OtherDN
	case "ConnID":
		return m.ConnID
	}
	return ""
}
