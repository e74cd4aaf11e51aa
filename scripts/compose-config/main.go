// compose-config loads a Compose file the way `docker compose config` does, with the Compose
// Specification's reference loader (compose-go, the library Docker Compose itself uses):
// interpolation, the optional env_file entries, schema validation, normalisation and the
// consistency checks (depends_on targets, images, volumes). It prints the resolved model as YAML,
// or the error and exit status 1. test/compose.test.ts runs it where no Compose v2 is installed
// (Debian's docker-compose is Compose v1, which predates `env_file: [{required: false}]`).
//
//	go build -o .tools/go/compose-config ./scripts/compose-config   (scripts/go-tools.ts does)
//	compose-config [-q] [-f docker-compose.yml]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "docker-compose.yml", "the Compose file")
	quiet := flag.Bool("q", false, "only validate, print nothing")
	flag.Parse()

	options, err := cli.NewProjectOptions(
		[]string{*file},
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
		cli.WithNormalization(true),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	if *quiet {
		return
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
