package bedrocksim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// controlHandler serves the JSON control API:
//
//	GET    /regions         {"us-east-1":"http://127.0.0.1:40123",…}
//	GET    /faults          {"us-east-1":{Fault},…}
//	PUT    /faults/{region} body: Fault JSON; answers the installed fault
//	DELETE /faults/{region} heal one region
//	DELETE /faults          heal every region
//	GET    /counters        {"us-east-1":{Counters},…}
//	POST   /counters/reset  zero every counter
//	DELETE /cache           forget every prompt cache
//
// Errors are {"error":"…"} with 400 (bad input), 404 (unknown region) or
// 500 (a listener could not be reopened).
func (s *Sim) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /regions", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]string{}
		for _, name := range s.order {
			out[name] = s.URL(name)
		}
		writeControlJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /faults/{region}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("region")
		if _, err := s.region(name); err != nil {
			writeControlError(w, http.StatusNotFound, err)
			return
		}
		var f Fault
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
			writeControlError(w, http.StatusBadRequest, err)
			return
		}
		f, err := f.normalize()
		if err != nil {
			writeControlError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.ApplyFault(name, f); err != nil {
			writeControlError(w, http.StatusInternalServerError, err)
			return
		}
		writeControlJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("DELETE /faults/{region}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("region")
		if _, err := s.region(name); err != nil {
			writeControlError(w, http.StatusNotFound, err)
			return
		}
		if err := s.ApplyFault(name, Fault{}); err != nil {
			writeControlError(w, http.StatusInternalServerError, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ResetFaults(); err != nil {
			writeControlError(w, http.StatusInternalServerError, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]Counters{}
		for _, name := range s.order {
			out[name] = s.Counters(name)
		}
		writeControlJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /counters/reset", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /cache", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCache()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeControlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeControlError(w http.ResponseWriter, status int, err error) {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		status = http.StatusBadRequest
	}
	writeControlJSON(w, status, map[string]string{"error": err.Error()})
}
