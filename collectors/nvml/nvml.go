package nvml

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"vitlab/collectors/batchdir"
)

// ErrUnavailable says NVML cannot be used on this host (no library, no
// driver, no GPU). Callers go on without inventory and samples.
var ErrUnavailable = errors.New("NVML unavailable")

// Lib is an initialised NVML.
type Lib struct {
	lib gonvml.Interface
}

// Open loads and initialises NVML.
func Open() (*Lib, error) {
	return open(gonvml.New())
}

func open(lib gonvml.Interface) (l *Lib, err error) {
	// go-nvml reports a missing library as a Return code, but guard
	// against a panic from a broken installation all the same.
	defer func() {
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("nvml: init: %v: %w", r, ErrUnavailable)
		}
	}()
	if ret := lib.Init(); ret != gonvml.SUCCESS {
		return nil, fmt.Errorf("nvml: init: %s: %w", errorString(ret), ErrUnavailable)
	}
	return &Lib{lib: lib}, nil
}

func errorString(ret gonvml.Return) string {
	switch ret {
	case gonvml.ERROR_LIBRARY_NOT_FOUND:
		return "libnvidia-ml.so.1 not found"
	case gonvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA driver not loaded"
	case gonvml.ERROR_NO_PERMISSION:
		return "no permission"
	}
	return "NVML error " + strconv.Itoa(int(ret))
}

// Close shuts NVML down.
func (l *Lib) Close() error {
	if ret := l.lib.Shutdown(); ret != gonvml.SUCCESS {
		return fmt.Errorf("nvml: shutdown: %s", errorString(ret))
	}
	return nil
}

// Devices lists the host's GPUs in NVML index order (PCI bus order).
func (l *Lib) Devices() ([]batchdir.GPU, error) {
	n, ret := l.lib.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device count: %s", errorString(ret))
	}
	driver, _ := l.lib.SystemGetDriverVersion()
	numaOK := l.hasSymbol("nvmlDeviceGetNumaNodeId")
	out := make([]batchdir.GPU, 0, n)
	for i := 0; i < n; i++ {
		d, ret := l.lib.DeviceGetHandleByIndex(i)
		if ret != gonvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d: %s", i, errorString(ret))
		}
		g := batchdir.GPU{Index: i, Driver: driver}
		if g.Name, ret = d.GetName(); ret != gonvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d: name: %s", i, errorString(ret))
		}
		g.UUID, _ = d.GetUUID()
		if pci, ret := d.GetPciInfo(); ret == gonvml.SUCCESS {
			g.BusID = busID(pci.BusId)
		}
		if mem, ret := d.GetMemoryInfo(); ret == gonvml.SUCCESS {
			g.MemoryBytes = int64(mem.Total)
		}
		if major, minor, ret := d.GetCudaComputeCapability(); ret == gonvml.SUCCESS {
			g.ComputeMajor, g.ComputeMinor = major, minor
		}
		if numaOK {
			if node, ret := d.GetNumaNodeId(); ret == gonvml.SUCCESS && node >= 0 && node < 1<<16 {
				g.NUMANode = &node
			}
		}
		if mask, ret := d.GetCpuAffinity(maxCPUs); ret == gonvml.SUCCESS {
			g.CPUAffinity = cpuList(mask)
		}
		if mw, ret := d.GetEnforcedPowerLimit(); ret == gonvml.SUCCESS && mw > 0 {
			x := int64(mw)
			g.PowerLimitMW = &x
		}
		out = append(out, g)
	}
	return out, nil
}

// maxCPUs sizes the CPU affinity mask asked of NVML.
const maxCPUs = 4096

// hasSymbol says whether the loaded library has a function; calling one an
// older driver lacks would crash the process.
func (l *Lib) hasSymbol(name string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ext := l.lib.Extensions()
	return ext != nil && ext.LookupSymbol(name) == nil
}

// busID turns NVML's NUL-terminated bus id into the sysfs form
// ("00000000:17:00.0" → "0000:17:00.0"; a domain above 0xffff keeps its
// digits: "00010000:01:00.0" → "10000:01:00.0", as sysfs names it; the
// rule of numa.NormalizeBusID, which this package does not import).
func busID(raw [32]int8) string {
	b := make([]byte, 0, len(raw))
	for _, c := range raw {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	s := strings.ToLower(string(b))
	if dom, rest, ok := strings.Cut(s, ":"); ok && len(dom) == 8 && strings.Count(rest, ":") == 1 {
		dom = strings.TrimLeft(dom, "0")
		for len(dom) < 4 {
			dom = "0" + dom
		}
		s = dom + ":" + rest
	}
	return s
}

// cpuList formats an affinity bitmask (64 CPUs per word) as a cpulist.
func cpuList(mask []uint) string {
	var parts []string
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if end == start {
			parts = append(parts, strconv.Itoa(start))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", start, end))
		}
		start = -1
	}
	cpu := 0
	for _, w := range mask {
		for bit := 0; bit < 64; bit++ {
			if uint64(w)&(1<<bit) != 0 {
				if start < 0 {
					start = cpu
				}
			} else {
				flush(cpu - 1)
			}
			cpu++
		}
	}
	flush(cpu - 1)
	return strings.Join(parts, ",")
}

// ErrNoEnergyCounter says the GPU has no total-energy counter (NVML
// answers NOT_SUPPORTED: GPUs before Volta, some virtual GPUs).
var ErrNoEnergyCounter = errors.New("the GPU has no total-energy counter")

// energyReader is the part of an NVML device that has the energy counter.
type energyReader interface {
	GetTotalEnergyConsumption() (uint64, gonvml.Return)
}

// reader is the part of an NVML device a Sampler reads.
type reader interface {
	energyReader
	GetClockInfo(gonvml.ClockType) (uint32, gonvml.Return)
	GetPowerUsage() (uint32, gonvml.Return)
	GetTemperature(gonvml.TemperatureSensors) (uint32, gonvml.Return)
	GetUtilizationRates() (gonvml.Utilization, gonvml.Return)
	GetMemoryInfo() (gonvml.Memory, gonvml.Return)
}

// EnergyCounter returns a function that reads GPU index's total-energy
// counter (nvmlDeviceGetTotalEnergyConsumption: mJ since the driver was
// loaded). The function is cheap (one NVML call, no sampling) and safe to
// call from any goroutine; where the GPU has no counter it returns an error
// wrapping ErrNoEnergyCounter.
func (l *Lib) EnergyCounter(index int) (func() (int64, error), error) {
	d, ret := l.lib.DeviceGetHandleByIndex(index)
	if ret != gonvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device %d: %s", index, errorString(ret))
	}
	return func() (int64, error) { return readEnergy(d) }, nil
}

func readEnergy(d energyReader) (int64, error) {
	v, ret := d.GetTotalEnergyConsumption()
	switch ret {
	case gonvml.SUCCESS:
		return int64(v), nil
	case gonvml.ERROR_NOT_SUPPORTED:
		return 0, fmt.Errorf("nvml: total energy: %w", ErrNoEnergyCounter)
	}
	return 0, fmt.Errorf("nvml: total energy: %s", errorString(ret))
}

// reasonsFunc reads a device's clocks event (throttle) reasons bitmask.
type reasonsFunc func() (uint64, gonvml.Return)

// Symbols of the clocks event reasons call: the current name (driver 535
// and later) and the older one it replaced (deprecated, same bitmask).
const (
	symEventReasons    = "nvmlDeviceGetCurrentClocksEventReasons"
	symThrottleReasons = "nvmlDeviceGetCurrentClocksThrottleReasons"
)

// reasonsOf picks the call that reads d's clocks event reasons: the current
// one where the library has it, else the older throttle-reasons one, else
// none (nil: samples carry no reasons).
func (l *Lib) reasonsOf(d gonvml.Device) reasonsFunc {
	switch {
	case l.hasSymbol(symEventReasons):
		return d.GetCurrentClocksEventReasons
	case l.hasSymbol(symThrottleReasons):
		return d.GetCurrentClocksThrottleReasons //nolint:staticcheck // the fallback for drivers without the new name
	}
	return nil
}

// read takes one sample of d; readings that fail are left out. reasons
// reads the clocks event reasons; nil when there is no call for them. A nil
// d (no NVML: StartCanarySampler) reads nothing.
func read(d reader, reasons reasonsFunc, index int, now time.Time) batchdir.Sample {
	s := batchdir.Sample{UnixNs: now.UnixNano(), GPU: index}
	if d == nil {
		return s
	}
	if reasons != nil {
		if v, ret := reasons(); ret == gonvml.SUCCESS {
			s.ClocksEventReasons = &v
		}
	}
	if v, err := readEnergy(d); err == nil {
		s.EnergyMJ = &v
	}
	if v, ret := d.GetClockInfo(gonvml.CLOCK_SM); ret == gonvml.SUCCESS {
		x := int(v)
		s.SMClockMHz = &x
	}
	if v, ret := d.GetClockInfo(gonvml.CLOCK_MEM); ret == gonvml.SUCCESS {
		x := int(v)
		s.MemClockMHz = &x
	}
	if v, ret := d.GetPowerUsage(); ret == gonvml.SUCCESS {
		x := float64(v) / 1000 // mW → W
		s.PowerW = &x
	}
	if v, ret := d.GetTemperature(gonvml.TEMPERATURE_GPU); ret == gonvml.SUCCESS {
		x := int(v)
		s.TempC = &x
	}
	if u, ret := d.GetUtilizationRates(); ret == gonvml.SUCCESS {
		g, m := int(u.Gpu), int(u.Memory)
		s.UtilGPU, s.UtilMem = &g, &m
	}
	if m, ret := d.GetMemoryInfo(); ret == gonvml.SUCCESS {
		x := int64(m.Used)
		s.MemUsed = &x
	}
	return s
}

// Sampler writes NVML samples of one GPU as JSON lines until stopped.
type Sampler struct {
	d       reader
	reasons reasonsFunc
	index   int
	phase   string
	every   time.Duration
	w       *bufio.Writer
	stop    chan struct{}
	done    chan struct{}
	n       int
	err     error
	once    sync.Once
	now     func() time.Time
}

// DefaultEvery is the sampling interval when none is given: 20 Hz.
const DefaultEvery = 50 * time.Millisecond

// StartSampler starts sampling GPU index every interval into w, each
// sample labelled with phase (clean or traced). The first sample is taken
// at once, the last when Stop is called.
func (l *Lib) StartSampler(index int, every time.Duration, phase string, w io.Writer) (*Sampler, error) {
	d, ret := l.lib.DeviceGetHandleByIndex(index)
	if ret != gonvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device %d: %s", index, errorString(ret))
	}
	return startSampler(d, l.reasonsOf(d), index, every, phase, w, time.Now), nil
}

// StartCanarySampler is StartSampler for a host without NVML: each sample
// has its time, GPU index, phase and the CPU canary, no GPU reading. It
// needs no library, so the host's CPU speed is recorded wherever the
// collector runs.
func StartCanarySampler(index int, every time.Duration, phase string, w io.Writer) *Sampler {
	return startSampler(nil, nil, index, every, phase, w, time.Now)
}

func startSampler(d reader, reasons reasonsFunc, index int, every time.Duration, phase string, w io.Writer, now func() time.Time) *Sampler {
	if every <= 0 {
		every = DefaultEvery
	}
	s := &Sampler{d: d, reasons: reasons, index: index, phase: phase, every: every, w: bufio.NewWriter(w),
		stop: make(chan struct{}), done: make(chan struct{}), now: now}
	go s.loop()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	s.write()
	for {
		select {
		case <-s.stop:
			s.write()
			if err := s.w.Flush(); err != nil && s.err == nil {
				s.err = err
			}
			return
		case <-t.C:
			s.write()
		}
	}
}

func (s *Sampler) write() {
	if s.err != nil {
		return
	}
	// The canary runs first, at the tick, before NVML's calls (driver
	// ioctls, which can block for milliseconds).
	canary := timeCanary(CanaryIterations)
	smp := read(s.d, s.reasons, s.index, s.now())
	smp.Phase = s.phase
	smp.CPUCanaryNs = &canary
	b, err := json.Marshal(smp)
	if err == nil {
		b = append(b, '\n')
		_, err = s.w.Write(b)
	}
	if err != nil {
		s.err = fmt.Errorf("nvml: sampler: %w", err)
		return
	}
	s.n++
}

// Stop stops sampling, flushes, and returns how many samples were written
// and the first write error.
func (s *Sampler) Stop() (int, error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.n, s.err
}
