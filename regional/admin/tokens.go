package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Token is an accepted admin token, known only by the SHA-256 of its
// text: the configuration never holds a usable token.
type Token struct {
	// Name is what audit records call the token's holder: the name given
	// in the configuration, or the first 8 hex digits of Hash.
	Name string
	Hash [sha256.Size]byte
}

// HashToken returns the hex SHA-256 of an admin token, the form
// --admin-token-hashes takes (the same as `printf %s "$TOKEN" | sha256sum`).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// MinDevTokenLen is the shortest token ParseTokens accepts in clear text.
const MinDevTokenLen = 16

// ParseTokens builds the accepted tokens from hashes, a comma-separated
// list of "<sha256 hex>" or "<name>:<sha256 hex>" entries, and from clear
// dev tokens (local development only: a clear token on a command line is
// visible to every user of the machine), which it hashes. Every problem is
// reported together; no error mentions a clear token.
func ParseTokens(hashes string, dev ...string) ([]Token, error) {
	var toks []Token
	var errs []error
	seen := map[[sha256.Size]byte]bool{}
	add := func(t Token) {
		if seen[t.Hash] {
			errs = append(errs, fmt.Errorf("admin token %s is listed twice", t.Name))
			return
		}
		seen[t.Hash] = true
		toks = append(toks, t)
	}
	for i, entry := range strings.Split(hashes, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, hexHash, named := strings.Cut(entry, ":")
		if !named {
			name, hexHash = "", entry
		}
		b, err := hex.DecodeString(hexHash)
		if err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("admin token hash #%d: want 64 hex digits (the SHA-256 of the token), optionally after \"name:\"", i+1))
			continue
		}
		if named && !validActorName(name) {
			errs = append(errs, fmt.Errorf("admin token hash #%d: name %q must be 1 to 64 letters, digits or . _ @ -", i+1, name))
			continue
		}
		t := Token{Name: name}
		copy(t.Hash[:], b)
		if t.Name == "" {
			t.Name = fingerprint(t.Hash)
		}
		add(t)
	}
	for _, tok := range dev {
		if tok == "" {
			continue
		}
		if len(tok) < MinDevTokenLen {
			errs = append(errs, fmt.Errorf("--admin-token must be at least %d characters", MinDevTokenLen))
			continue
		}
		t := Token{Hash: sha256.Sum256([]byte(tok))}
		t.Name = "dev-" + fingerprint(t.Hash)
		add(t)
	}
	return toks, errors.Join(errs...)
}

func fingerprint(h [sha256.Size]byte) string { return hex.EncodeToString(h[:4]) }

func validActorName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return false
		}
	}
	return true
}

// maxTokenLen bounds what is hashed at all.
const maxTokenLen = 4096

// authenticate returns the actor of the token presented in an Authorization
// header. The presented token is hashed and compared with every accepted
// hash in constant time, without stopping at a match, so the time taken
// tells nothing about which token (if any) matched.
func authenticate(tokens []Token, header string) (actor string, ok bool) {
	scheme, tok, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxTokenLen {
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	match := -1
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].Hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return tokens[match].Name, true
}
