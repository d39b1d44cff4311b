// Package deploytest checks the deployment artefacts that no Go code imports: the root
// docker-compose.yml, deployments/Dockerfile, .dockerignore and the Kubernetes manifests
// in deployments/kubernetes.
//
// Nothing here needs Docker or Kubernetes. The tests parse the files (YAML with
// gopkg.in/yaml.v3, the Dockerfile line by line) and hold them to the contracts the rest
// of Strata relies on: which services exist, that each has a health check, which ports and
// health paths they use, that the services find Kafka and Redis by their compose names, that
// the image is static and non-root, and that the Kubernetes probes and security settings
// are the ones documented. One test also runs the image's go build (CGO_ENABLED=0) into a
// temporary directory and checks with debug/elf that the binary is statically linked; it
// skips while ./services/strata has no Go sources.
//
// The package has no non-test code; it exists for its tests.
package deploytest
