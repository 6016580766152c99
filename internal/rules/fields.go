package rules

// Bounds on free-form fields of customers and keys. The admin API refuses
// longer values, and the Terraform provider validates with the same
// numbers so a plan fails before anything is sent.
const (
	MaxNameLen        = 200
	MaxContactLen     = 254 // an e-mail address, RFC 5321
	MaxTierLen        = 32
	MaxModelPatterns  = 100
	MaxTags           = 50
	MaxTagKeyLen      = 128
	MaxTagValueLen    = 256
	MaxDescriptionLen = 256
)
