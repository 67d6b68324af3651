package web

import (
	"fmt"
	"net/http"
)

// healthz is liveness: the process serves HTTP. It never touches the store,
// so a slow disk does not get the container killed.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz is readiness: the store is open and the listeners are up. The
// reason it is not ready goes to the log, not to the (public) client.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.opts.Ready != nil {
		if err := h.opts.Ready(); err != nil {
			h.log.Warn("not ready", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

func fmtArgs(v []any) string { return fmt.Sprint(v...) }
