// Command ceiling is the trivial net/http health handler: every path answers 200 "ok" with the headers every
// healthgate probe response carries. Nothing answers faster on this machine, so it is the ceiling the others are
// measured against (docs/design.md §9: a ceiling without these headers is not a ceiling).
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Parse()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
