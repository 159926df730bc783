package sdp

// Direction is an SDP media direction attribute (RFC 3264 section 5.1).
type Direction string

// The four directions. An m-line without one is SendRecv.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Valid reports whether d is one of the four directions.
func (d Direction) Valid() bool {
	switch d {
	case SendRecv, SendOnly, RecvOnly, Inactive:
		return true
	}
	return false
}

// Reverse returns the direction seen from the other end: sendonly and
// recvonly swap, sendrecv and inactive are unchanged. The empty direction is
// the SDP default, sendrecv.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case "":
		return SendRecv
	}
	return d
}

// Sends reports whether the side that wrote d sends media. The empty
// direction counts as sendrecv; unknown values send nothing.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly || d == "" }

// Receives reports whether the side that wrote d receives media. The empty
// direction counts as sendrecv; unknown values receive nothing.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly || d == "" }

// directionOf builds the direction with the given capabilities.
func directionOf(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	}
	return Inactive
}

// Intersect returns the direction allowed by both d and o (both written from
// the same side's point of view): it sends only if both send and receives only
// if both receive.
func (d Direction) Intersect(o Direction) Direction {
	return directionOf(d.Sends() && o.Sends(), d.Receives() && o.Receives())
}
