package parquetout

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// page returns n bytes that compress like a column page: runs of small
// varying integers.
func page(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.IntN(300)
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v >> (8 * (j - i)))
		}
	}
	return b
}

// TestPageCodec: Parquet's zstd codec is pageCodec; its frames are
// standard zstd with a window of at most zstdWindow and decode back; an
// encoder survives garbage collection in the free list, so compressing a
// page after a GC allocates about the page's output, not a new encoder
// (arrow-go's pooled encoders allocate 16 MiB each time).
func TestPageCodec(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*pageCodec); !ok {
		t.Fatalf("zstd codec is %T, want *pageCodec", c)
	}
	src := page(256<<10, 1)
	frame := c.EncodeLevel(nil, src, zstdLevel)
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize > zstdWindow {
		t.Errorf("frame window %d > %d", h.WindowSize, zstdWindow)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if got, err := dec.DecodeAll(frame, nil); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("standard decoder: %v (equal %v)", err, bytes.Equal(got, src))
	}
	if got, err := compress.Decode(c, make([]byte, 0, len(src)), frame); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("codec Decode: %v", err)
	}
	// A page bigger than the window is still one valid frame.
	big := page(3<<20, 2)
	if got, err := dec.DecodeAll(c.EncodeLevel(nil, big, zstdLevel), nil); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("3 MiB page: %v", err)
	}

	dst := make([]byte, 0, c.CompressBound(int64(len(src))))
	c.EncodeLevel(dst, src, zstdLevel) // an encoder in the free list
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c.EncodeLevel(dst, src, zstdLevel)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("one page after a GC allocated %d bytes", n)
	}
}

// TestPageCodecConcurrent compresses from many goroutines at once: every
// frame decodes to its page, and the free list keeps at most
// maxIdleEncoders.
func TestPageCodecConcurrent(t *testing.T) {
	c, _ := compress.GetCodec(compress.Codecs.Zstd)
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				src := page(64<<10, uint64(g*10+i))
				got, err := compress.Decode(c, nil, c.EncodeLevel(nil, src, zstdLevel))
				if err != nil || !bytes.Equal(got, src) {
					t.Errorf("goroutine %d page %d: %v", g, i, err)
				}
			}
		}()
	}
	wg.Wait()
	pc := c.(*pageCodec)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if n := len(pc.idle[zstdLevel]); n < 1 || n > maxIdleEncoders {
		t.Errorf("%d idle encoders", n)
	}
}
