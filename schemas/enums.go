package schemas

// Enumerations of nsys export ids. The ids are nsys's own and stable across
// export versions from 2020.3 on; exports older than 2022.4 lack the ENUM_*
// tables, so the labels live here rather than being read from each file.

var copyKinds = map[int64]string{
	0: "Unknown", 1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD",
	7: "DtoA", 8: "DtoD", 9: "HtoH", 10: "PtoP", 11: "UVM_HtoD", 12: "UVM_DtoH", 13: "UVM_DtoD",
}

// CopyKind returns the short name of an nsys copy kind id (memcpys.kind);
// ids nsys may add later are named "Kind<id>".
func CopyKind(id int64) string {
	if s, ok := copyKinds[id]; ok {
		return s
	}
	return "Kind" + itoa(id)
}

var memKinds = map[int64]string{
	0: "pageable", 1: "pinned", 2: "device", 3: "array", 4: "managed",
	5: "device_static", 6: "managed_static", 7: "unknown",
}

// MemKind returns the name of an nsys memory kind id (memcpys.src_mem,
// memcpys.dst_mem, memsets.mem_kind). nsys numbers these its own way:
// 0 is pageable, unlike CUPTI's enum.
func MemKind(id int64) string {
	if s, ok := memKinds[id]; ok {
		return s
	}
	return "kind" + itoa(id)
}

// NVTX event types of NVTX_EVENTS.eventType.
const (
	NVTXMark           = 34
	NVTXPushPopRange   = 59
	NVTXStartEndRange  = 60
	NVTXTPushPopRange  = 70 // NVTXT (text-file) variants
	NVTXTStartEndRange = 71
	NVTXDomainCreate   = 75
	NVTXDomainDestroy  = 76
	NVTXTMark          = 65
)

// NVTXStyle names an NVTX event type as nvtx.style holds it.
func NVTXStyle(eventType int64) string {
	switch eventType {
	case NVTXPushPopRange, NVTXTPushPopRange:
		return "PushPop"
	case NVTXStartEndRange, NVTXTStartEndRange:
		return "StartEnd"
	case NVTXMark, NVTXTMark:
		return "Mark"
	case NVTXDomainCreate:
		return "DomainCreate"
	case NVTXDomainDestroy:
		return "DomainDestroy"
	}
	return "Other"
}

// IsNVTXRange reports whether an NVTX event type is a range (push/pop or
// start/end), the events nsys's NVTX summaries count.
func IsNVTXRange(eventType int64) bool {
	switch eventType {
	case NVTXPushPopRange, NVTXStartEndRange, NVTXTPushPopRange, NVTXTStartEndRange:
		return true
	}
	return false
}

// APIClass names an nsys event class of CUPTI_ACTIVITY_KIND_RUNTIME rows.
func APIClass(eventClass int64) string {
	switch eventClass {
	case 0:
		return "runtime"
	case 1:
		return "driver"
	}
	return "other"
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
