package evstream_test

import (
	"encoding/binary"
	"hash/crc32"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
