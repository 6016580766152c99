package deps
import (
 _ "github.com/aws/aws-sdk-go-v2/aws"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/credentials"
 _ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
 _ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
 _ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
 _ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
 _ "github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
 _ "github.com/aws/smithy-go/eventstream"
 _ "github.com/sony/gobreaker/v2"
 _ "github.com/rs/zerolog"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "golang.org/x/sync/singleflight"
)
