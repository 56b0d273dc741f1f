package parquetout

import (
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdWindow is the window of the zstd encoders that compress pages. A
// page is at most a few hundred KiB (data pages of 256 KiB, dictionary
// pages of up to 1 MiB), so a larger window finds no more matches; it only
// costs memory. klauspost/compress sizes an encoder's history buffer from
// its window: 16 MiB per encoder at the default 8 MiB window, 1.1 MiB here.
const zstdWindow = 1 << 20

// maxIdleEncoders bounds the encoders kept for reuse.
const maxIdleEncoders = 16

// pageCodec is the zstd codec of every Parquet file this process writes.
// It replaces arrow-go's own, which takes encoders with the default window
// from a sync.Pool: every encoder holds a 16 MiB history, and the pool
// drops its encoders at each garbage collection, so they are allocated
// (and zeroed) again and again. pageCodec keeps its small encoders in a
// free list instead. The frames are standard zstd; decoding is arrow-go's.
type pageCodec struct {
	base   compress.Codec          // arrow-go's zstd codec
	stream compress.StreamingCodec // the same

	mu   sync.Mutex
	idle map[int][]*zstd.Encoder // by level
}

func init() {
	base, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return // no zstd in arrow-go: Writer fails on its first page
	}
	stream, ok := base.(compress.StreamingCodec)
	if !ok {
		return // another arrow-go: keep its codec rather than guess
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &pageCodec{base: base, stream: stream, idle: map[int][]*zstd.Encoder{}})
}

// Encode implements compress.Codec at zstd's default level.
func (c *pageCodec) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

// EncodeLevel implements compress.Codec.
func (c *pageCodec) EncodeLevel(dst, src []byte, level int) []byte {
	enc := c.get(level)
	out := enc.EncodeAll(src, dst[:0])
	c.put(level, enc)
	return out
}

func (c *pageCodec) get(level int) *zstd.Encoder {
	c.mu.Lock()
	if free := c.idle[level]; len(free) > 0 {
		enc := free[len(free)-1]
		c.idle[level] = free[:len(free)-1]
		c.mu.Unlock()
		return enc
	}
	c.mu.Unlock()
	lvl := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		lvl = zstd.EncoderLevelFromZstd(level)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithWindowSize(zstdWindow),
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true),
		zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		// The options are constants that zstd accepts.
		panic("parquetout: zstd encoder: " + err.Error())
	}
	return enc
}

func (c *pageCodec) put(level int, enc *zstd.Encoder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle[level]) < maxIdleEncoders {
		c.idle[level] = append(c.idle[level], enc)
	}
}

// CompressBound implements compress.Codec.
func (c *pageCodec) CompressBound(n int64) int64 { return c.base.CompressBound(n) }

// Decode implements compress.Codec.
func (c *pageCodec) Decode(dst, src []byte) []byte { return c.base.Decode(dst, src) }

// DecodeWithError implements compress.ErrorCodec.
func (c *pageCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	return compress.Decode(c.base, dst, src)
}

// NewReader implements compress.StreamingCodec.
func (c *pageCodec) NewReader(r io.Reader) io.ReadCloser {
	return c.stream.NewReader(r)
}

// NewWriter implements compress.StreamingCodec.
func (c *pageCodec) NewWriter(w io.Writer) io.WriteCloser {
	return c.stream.NewWriter(w)
}

// NewWriterLevel implements compress.StreamingCodec.
func (c *pageCodec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return c.stream.NewWriterLevel(w, level)
}
