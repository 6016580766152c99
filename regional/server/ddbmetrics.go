package server

import (
	"context"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// timeDynamoDB adds a middleware that observes every DynamoDB call's
// latency, retries included, by operation and outcome.
func timeDynamoDB(h *prometheus.HistogramVec) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("TollgateLatency",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				outcome := "ok"
				if err != nil {
					outcome = "error"
				}
				h.WithLabelValues(awsmiddleware.GetOperationName(ctx), outcome).Observe(time.Since(start).Seconds())
				return out, md, err
			}), middleware.Before)
	}
}
