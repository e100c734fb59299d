package main

import (
	"fmt"
	"io"
)

func demo(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "hotfix-bot demo: the GitHub simulator is not built yet (issue 3)")
	return 1
}
