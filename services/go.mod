module github.com/strata-platform/strata/services

go 1.26.0

require github.com/strata-platform/strata/pkg v0.0.0-00010101000000-000000000000

require gopkg.in/yaml.v3 v3.0.1 // indirect

replace github.com/strata-platform/strata/pkg => ../pkg
