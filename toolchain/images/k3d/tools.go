//go:build tools

// The k3d CLI is built from this module (`go build github.com/k3d-io/k3d/v5`) because the
// module proxy refuses k3d's version list, which `go install k3d@v5.9.0` asks for.
package tools

import _ "github.com/k3d-io/k3d/v5"
