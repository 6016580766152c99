package rules

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"unsafe"
)

// API key format:
//
//	tg_<id>_<secret><check>
//
// id is 16 characters and secret 40 characters of lower-case base32
// (a-z, 2-7), so the id carries 80 random bits and the secret 200; check is
// 7 base32 characters encoding the CRC-32 of everything before it. The id is
// not secret: it names the key in logs, the admin API and DynamoDB (the key
// item's partition key), so a lookup is one GetItem. The checksum lets the
// data plane refuse a mistyped or truncated key without a DynamoDB read, and
// lets secret scanners recognise Tollgate keys.
const (
	KeyPrefix    = "tg_"
	KeyIDLen     = 16
	keySecretLen = 40
	keyCheckLen  = 7
	// KeyLen is the length of every well-formed key.
	KeyLen = len(KeyPrefix) + KeyIDLen + 1 + keySecretLen + keyCheckLen
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrKeyFormat is returned by ParseKey for anything that is not a
// well-formed Tollgate key.
var ErrKeyFormat = errors.New("not a Tollgate API key (expected tg_ followed by 64 characters)")

// KeyHash is the SHA-256 of a whole key; only this is stored. Keys carry 200
// random bits, so a fast hash is enough: there is nothing to brute-force.
type KeyHash [sha256.Size]byte

// HashKey hashes a whole key.
func HashKey(key string) KeyHash { return sha256.Sum256(bytesOf(key)) }

// bytesOf is a read-only view of a string's bytes. A plain []byte(s) would
// allocate because the hash functions let their argument escape; these run
// on every request.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Equal compares two hashes in constant time.
func (h KeyHash) Equal(o KeyHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// NewKey returns a fresh random key, its id and its hash.
func NewKey() (key, id string, hash KeyHash, err error) {
	var raw [10 + 25]byte
	if _, err = rand.Read(raw[:]); err != nil {
		return "", "", KeyHash{}, err
	}
	id = b32.EncodeToString(raw[:10])
	body := KeyPrefix + id + "_" + b32.EncodeToString(raw[10:])
	key = body + checksum(body)
	return key, id, HashKey(key), nil
}

func checksum(body string) string {
	var c [5]byte
	binary.BigEndian.PutUint32(c[1:], crc32.ChecksumIEEE([]byte(body)))
	// 5 bytes encode to 8 base32 characters; the first carries only the
	// leading zero byte's bits, so drop it.
	return b32.EncodeToString(c[:])[1:]
}

// ParseKey checks a presented key's shape and checksum and returns its id
// (a substring of key; nothing is allocated on success).
func ParseKey(key string) (id string, err error) {
	if len(key) != KeyLen || key[:len(KeyPrefix)] != KeyPrefix || key[len(KeyPrefix)+KeyIDLen] != '_' {
		return "", ErrKeyFormat
	}
	for i := len(KeyPrefix); i < KeyLen; i++ {
		if i == len(KeyPrefix)+KeyIDLen {
			continue
		}
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return "", ErrKeyFormat
		}
	}
	body := key[:KeyLen-keyCheckLen]
	if !checkMatches(body, key[KeyLen-keyCheckLen:]) {
		return "", ErrKeyFormat
	}
	return key[len(KeyPrefix) : len(KeyPrefix)+KeyIDLen], nil
}

// checkMatches compares the checksum without allocating.
func checkMatches(body, check string) bool {
	var c [5]byte
	binary.BigEndian.PutUint32(c[1:], crc32.ChecksumIEEE(bytesOf(body)))
	var enc [8]byte
	b32.Encode(enc[:], c[:])
	return string(enc[1:]) == check
}

// ValidKeyID reports whether id has the syntax of a key id.
func ValidKeyID(id string) bool {
	if len(id) != KeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// KeyDisplay returns the parts of a key that may be shown after creation:
// the prefix with the id, and the last four characters.
func KeyDisplay(key string) (prefix, last4 string) {
	if len(key) < len(KeyPrefix)+KeyIDLen+4 {
		return "", ""
	}
	return key[:len(KeyPrefix)+KeyIDLen], key[len(key)-4:]
}
