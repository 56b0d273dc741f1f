package nvml

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"vitlab/collectors/batchdir"
)

// TestOpenHere runs the real NVML path on this machine: without a GPU it
// must fail softly with ErrUnavailable; with one it must list devices.
func TestOpenHere(t *testing.T) {
	l, err := Open()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want an error wrapping ErrUnavailable", err)
		}
		t.Logf("no NVML here (expected in CI): %v", err)
		return
	}
	defer l.Close()
	gpus, err := l.Devices()
	if err != nil || len(gpus) == 0 {
		t.Fatalf("NVML opened but lists %d GPUs: %v", len(gpus), err)
	}
}

func TestOpenFailures(t *testing.T) {
	for _, ret := range []gonvml.Return{gonvml.ERROR_LIBRARY_NOT_FOUND, gonvml.ERROR_DRIVER_NOT_LOADED} {
		lib := &mock.Interface{InitFunc: func() gonvml.Return { return ret }}
		_, err := open(lib)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v: got %v", ret, err)
		}
	}
	lib := &mock.Interface{InitFunc: func() gonvml.Return { panic("broken driver") }}
	if _, err := open(lib); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "broken driver") {
		t.Errorf("panic in init: got %v", err)
	}
}

// TestDevices reads the inventory of go-nvml's mock DGX H100 (8 GPUs),
// with NUMA and affinity answers added the way a two-socket host gives them.
func TestDevices(t *testing.T) {
	srv := dgxh100.New()
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		node := i / 4
		bus := []string{"00000000:1B:00.0", "00000000:43:00.0", "00000000:52:00.0", "00000000:61:00.0",
			"00000000:9D:00.0", "00000000:C3:00.0", "00000000:D1:00.0", "00000000:DF:00.0"}[i]
		dev.GetPciInfoFunc = func() (gonvml.PciInfo, gonvml.Return) {
			var p gonvml.PciInfo // the mock leaves BusId empty; fill it as NVML does
			for j, c := range bus {
				p.BusId[j] = int8(c)
			}
			return p, gonvml.SUCCESS
		}
		dev.GetNumaNodeIdFunc = func() (int, gonvml.Return) { return node, gonvml.SUCCESS }
		dev.GetEnforcedPowerLimitFunc = func() (uint32, gonvml.Return) {
			if i == 7 {
				return 0, gonvml.ERROR_NOT_SUPPORTED
			}
			return 700_000, gonvml.SUCCESS
		}
		dev.GetCpuAffinityFunc = func(n int) ([]uint, gonvml.Return) {
			// CPUs 0-55 on node 0, 56-111 on node 1, in 64-bit words.
			mask := make([]uint, 2)
			for c := node * 56; c < node*56+56; c++ {
				mask[c/64] |= 1 << (c % 64)
			}
			return mask, gonvml.SUCCESS
		}
	}
	l, err := open(srv)
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := l.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 8 {
		t.Fatalf("got %d GPUs", len(gpus))
	}
	g := gpus[5]
	if g.Index != 5 || !strings.Contains(g.Name, "H100") || g.UUID == "" || g.MemoryBytes < 80e9 ||
		g.ComputeMajor != 9 || g.Driver == "" || g.NUMANode == nil || *g.NUMANode != 1 || g.CPUAffinity != "56-111" {
		t.Errorf("gpu 5: %+v", g)
	}
	if g.PowerLimitMW == nil || *g.PowerLimitMW != 700_000 {
		t.Errorf("gpu 5 enforced power limit: %v", g.PowerLimitMW)
	}
	if gpus[7].PowerLimitMW != nil {
		t.Errorf("gpu 7 (NOT_SUPPORTED) power limit: %v, want nil", *gpus[7].PowerLimitMW)
	}
	if g.BusID != "0000:c3:00.0" {
		t.Errorf("bus id not in sysfs form: %q", g.BusID)
	}

	// An older driver without nvmlDeviceGetNumaNodeId: the call is not made.
	srv.LookupSymbolFunc = func(string) error { return errors.New("undefined symbol") }
	for _, d := range srv.Devices {
		d.(*server.Device).GetNumaNodeIdFunc = nil // would panic if called
	}
	gpus, err = l.Devices()
	if err != nil || gpus[0].NUMANode != nil {
		t.Errorf("without the symbol: %+v %v", gpus[0], err)
	}
}

func TestBusIDAndCPUList(t *testing.T) {
	for in, want := range map[string]string{
		"00000000:1B:00.0": "0000:1b:00.0",
		"00000009:01:00.0": "0009:01:00.0",  // Grace Hopper's domain 9
		"00010000:01:00.0": "10000:01:00.0", // a domain above 0xffff, as sysfs names it
	} {
		var raw [32]int8
		for i, c := range in {
			raw[i] = int8(c)
		}
		if got := busID(raw); got != want {
			t.Errorf("bus id %s: got %q, want %q", in, got, want)
		}
	}
	if got := cpuList([]uint{0b1011, 1 << 63, 1}); got != "0-1,3,127-128" {
		t.Errorf("cpulist %q", got)
	}
	if got := cpuList(nil); got != "" {
		t.Errorf("empty cpulist %q", got)
	}
	// 224 CPUs, two sockets with SMT: node 1 is 56-111 and 168-223, four
	// 64-bit words (CPUs 0-63, 64-127, 128-191, 192-255).
	var mask [4]uint
	for _, r := range [][2]int{{56, 111}, {168, 223}} {
		for c := r[0]; c <= r[1]; c++ {
			mask[c/64] |= 1 << (c % 64)
		}
	}
	if mask != [4]uint{0xff00000000000000, 0x0000ffffffffffff, 0xffffff0000000000, 0x00000000ffffffff} {
		t.Fatalf("test mask %x", mask)
	}
	if got := cpuList(mask[:]); got != "56-111,168-223" {
		t.Errorf("224-CPU node 1 cpulist %q", got)
	}
	// go-nvml sizes the mask in bytes, not bits (8x the words needed): the
	// extra zero words change nothing.
	if got := cpuList(append(mask[:], make([]uint, 28)...)); got != "56-111,168-223" {
		t.Errorf("padded mask cpulist %q", got)
	}
}

// fakeReader is a GPU that supports some readings and not others.
type fakeReader struct{ calls int }

func (f *fakeReader) GetClockInfo(c gonvml.ClockType) (uint32, gonvml.Return) {
	f.calls++
	if c == gonvml.CLOCK_SM {
		return 1980, gonvml.SUCCESS
	}
	return 0, gonvml.ERROR_NOT_SUPPORTED
}
func (f *fakeReader) GetPowerUsage() (uint32, gonvml.Return) { return 312500, gonvml.SUCCESS }
func (f *fakeReader) GetTotalEnergyConsumption() (uint64, gonvml.Return) {
	f.calls++
	return 1_000_000 + uint64(f.calls), gonvml.SUCCESS
}
func (f *fakeReader) GetTemperature(gonvml.TemperatureSensors) (uint32, gonvml.Return) {
	return 0, gonvml.ERROR_NOT_SUPPORTED
}
func (f *fakeReader) GetUtilizationRates() (gonvml.Utilization, gonvml.Return) {
	return gonvml.Utilization{Gpu: 97, Memory: 40}, gonvml.SUCCESS
}
func (f *fakeReader) GetMemoryInfo() (gonvml.Memory, gonvml.Return) {
	return gonvml.Memory{Total: 80 << 30, Used: 12 << 30}, gonvml.SUCCESS
}

func TestSampler(t *testing.T) {
	var buf bytes.Buffer
	start := time.Unix(1700000000, 0)
	tick := 0
	now := func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Millisecond) }
	s := startSampler(&fakeReader{}, nil, 3, 5*time.Millisecond, "clean", &buf, now)
	time.Sleep(40 * time.Millisecond)
	n, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if n2, _ := s.Stop(); n2 != n {
		t.Error("second Stop changed the count")
	}
	samples, err := batchdir.ReadSamples(&buf, "nvml.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != n || n < 3 {
		t.Fatalf("%d samples written, %d read", n, len(samples))
	}
	first := samples[0]
	if first.GPU != 3 || first.UnixNs != start.Add(time.Millisecond).UnixNano() ||
		*first.SMClockMHz != 1980 || first.MemClockMHz != nil || *first.PowerW != 312.5 ||
		first.TempC != nil || *first.UtilGPU != 97 || *first.UtilMem != 40 || *first.MemUsed != 12<<30 ||
		first.Phase != "clean" || first.EnergyMJ == nil || *first.EnergyMJ <= 1_000_000 ||
		first.ClocksEventReasons != nil {
		t.Errorf("first sample %+v", first)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].UnixNs <= samples[i-1].UnixNs {
			t.Fatal("samples out of order")
		}
		if *samples[i].EnergyMJ <= *samples[i-1].EnergyMJ {
			t.Fatal("energy counter does not grow")
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSamplerWriteError(t *testing.T) {
	s := startSampler(&fakeReader{}, nil, 0, time.Millisecond, "traced", failWriter{}, time.Now)
	time.Sleep(5 * time.Millisecond)
	if _, err := s.Stop(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
}

// noEnergy is a GPU without the energy counter (NVML: NOT_SUPPORTED).
type noEnergy struct{ fakeReader }

func (noEnergy) GetTotalEnergyConsumption() (uint64, gonvml.Return) {
	return 0, gonvml.ERROR_NOT_SUPPORTED
}

func TestEnergyCounter(t *testing.T) {
	if v, err := readEnergy(&fakeReader{}); err != nil || v != 1_000_001 {
		t.Errorf("got %d %v", v, err)
	}
	if _, err := readEnergy(noEnergy{}); !errors.Is(err, ErrNoEnergyCounter) {
		t.Errorf("unsupported: got %v", err)
	}
	s := read(&noEnergy{}, nil, 0, time.Now())
	if s.EnergyMJ != nil || s.PowerW == nil {
		t.Errorf("a GPU without the counter: %+v", s)
	}
	// Through the library: go-nvml's mock DGX H100 answers the counter.
	srv := dgxh100.New()
	srv.Devices[2].(*server.Device).GetTotalEnergyConsumptionFunc = func() (uint64, gonvml.Return) { return 42_000, gonvml.SUCCESS }
	l, err := open(srv)
	if err != nil {
		t.Fatal(err)
	}
	read, err := l.EnergyCounter(2)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := read(); err != nil || v != 42_000 {
		t.Errorf("EnergyCounter(2)() = %d %v", v, err)
	}
}

// TestClocksEventReasons: the reasons bitmask is read with the current call
// where the library has its symbol, with the older throttle-reasons call
// where only that one exists, not at all where neither does; a GPU that
// answers NOT_SUPPORTED gets samples without it, and a sample's JSON has
// the field only when it was read (zero included).
func TestClocksEventReasons(t *testing.T) {
	srv := dgxh100.New()
	dev := srv.Devices[0].(*server.Device)
	var calls []string
	dev.GetCurrentClocksEventReasonsFunc = func() (uint64, gonvml.Return) {
		calls = append(calls, "event")
		return gonvml.ClocksEventReasonSwPowerCap | gonvml.ClocksEventReasonGpuIdle, gonvml.SUCCESS
	}
	dev.GetCurrentClocksThrottleReasonsFunc = func() (uint64, gonvml.Return) {
		calls = append(calls, "throttle")
		return 0, gonvml.SUCCESS
	}
	l, err := open(srv)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		symbols []string
		want    *uint64
		call    string
	}{
		{[]string{symEventReasons, symThrottleReasons}, batchdir.Ptr[uint64](0x5), "event"},
		{[]string{symThrottleReasons}, batchdir.Ptr[uint64](0), "throttle"},
		{nil, nil, ""},
	} {
		srv.LookupSymbolFunc = func(name string) error {
			if slices.Contains(c.symbols, name) {
				return nil
			}
			return errors.New("undefined symbol " + name)
		}
		calls = nil
		s := read(&fakeReader{}, l.reasonsOf(dev), 0, time.Now())
		if (s.ClocksEventReasons == nil) != (c.want == nil) || (c.want != nil && *s.ClocksEventReasons != *c.want) {
			t.Errorf("symbols %v: reasons %v, want %v", c.symbols, s.ClocksEventReasons, c.want)
		}
		if strings.Join(calls, ",") != c.call {
			t.Errorf("symbols %v: calls %v, want %q", c.symbols, calls, c.call)
		}
	}
	notSupported := func() (uint64, gonvml.Return) { return 0, gonvml.ERROR_NOT_SUPPORTED }
	if s := read(&fakeReader{}, notSupported, 0, time.Now()); s.ClocksEventReasons != nil {
		t.Errorf("NOT_SUPPORTED: reasons %d, want nil", *s.ClocksEventReasons)
	}

	// Written and read back through nvml.jsonl: 0 is kept (a pointer), none is absent.
	var buf bytes.Buffer
	zero := func() (uint64, gonvml.Return) { return 0, gonvml.SUCCESS }
	sm := startSampler(&fakeReader{}, zero, 0, time.Millisecond, "clean", &buf, time.Now)
	if _, err := sm.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"clocks_event_reasons":0`) {
		t.Errorf("a zero bitmask is not written: %s", buf.String())
	}
	samples, err := batchdir.ReadSamples(&buf, "nvml.jsonl")
	if err != nil || len(samples) == 0 || samples[0].ClocksEventReasons == nil || *samples[0].ClocksEventReasons != 0 {
		t.Errorf("read back: %+v %v", samples, err)
	}
}

// TestSamplerCanary: every sample the sampler writes has the CPU canary's
// time, positive, and it survives nvml.jsonl. The canary runs for real
// here; its time is at least the few µs 20,000 rounds take on any current
// core and well under the 50 ms interval.
func TestSamplerCanary(t *testing.T) {
	var buf bytes.Buffer
	s := startSampler(&fakeReader{}, nil, 0, 2*time.Millisecond, "clean", &buf, time.Now)
	time.Sleep(20 * time.Millisecond)
	if _, err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"cpu_canary_ns":`) {
		t.Fatalf("no cpu_canary_ns in %s", buf.String())
	}
	samples, err := batchdir.ReadSamples(&buf, "nvml.jsonl")
	if err != nil || len(samples) < 2 {
		t.Fatalf("%d samples: %v", len(samples), err)
	}
	for i, smp := range samples {
		if smp.CPUCanaryNs == nil || *smp.CPUCanaryNs < 1_000 || *smp.CPUCanaryNs > int64(DefaultEvery) {
			t.Errorf("sample %d: cpu_canary_ns %v", i, smp.CPUCanaryNs)
		}
	}
}

// TestCanaryScales: the canary's time is proportional to its work, so a
// value is a measure of the CPU's speed and not of the clock calls around
// it: 8x the rounds take 4-16x the time (medians of 51, which a second
// process sharing the cores does not move that far), and the canary does
// not allocate.
func TestCanaryScales(t *testing.T) {
	median := func(n int) int64 {
		v := make([]int64, 51)
		for i := range v {
			v[i] = timeCanary(n)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var one, eight int64
	for try := 0; try < 3; try++ { // a burst of load on a shared machine: measure again
		one, eight = median(CanaryIterations), median(8*CanaryIterations)
		if r := float64(eight) / float64(one); r >= 4 && r <= 16 {
			break
		}
	}
	if r := float64(eight) / float64(one); r < 4 || r > 16 {
		t.Errorf("%d rounds %d ns, %d rounds %d ns: ratio %.2f, want about 8", CanaryIterations, one, 8*CanaryIterations, eight, r)
	}
	t.Logf("canary: %d rounds median %d ns; %d rounds %d ns", CanaryIterations, one, 8*CanaryIterations, eight)
	if a := testing.AllocsPerRun(100, func() { timeCanary(CanaryIterations) }); a != 0 {
		t.Errorf("the canary allocates: %v a run", a)
	}
	if canaryWork(CanaryIterations) == canaryWork(CanaryIterations+1) {
		t.Error("the canary's result does not depend on its work")
	}
}

// TestCanarySampler: without NVML the sampler still writes a sample per
// tick with its time, GPU index, phase and the CPU canary, and no reading.
func TestCanarySampler(t *testing.T) {
	var buf bytes.Buffer
	s := StartCanarySampler(2, 2*time.Millisecond, "traced", &buf)
	time.Sleep(10 * time.Millisecond)
	if _, err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	samples, err := batchdir.ReadSamples(&buf, "nvml.jsonl")
	if err != nil || len(samples) < 2 {
		t.Fatalf("%d samples: %v", len(samples), err)
	}
	for i, smp := range samples {
		if smp.GPU != 2 || smp.Phase != "traced" || smp.UnixNs == 0 || smp.CPUCanaryNs == nil || *smp.CPUCanaryNs <= 0 ||
			smp.SMClockMHz != nil || smp.PowerW != nil || smp.EnergyMJ != nil || smp.MemUsed != nil || smp.ClocksEventReasons != nil {
			t.Errorf("sample %d: %+v", i, smp)
		}
	}
}
