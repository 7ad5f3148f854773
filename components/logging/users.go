package logging

import (
	"encoding/json"
	"fmt"
)

// Elasticsearch users the setup Job creates besides the built-in ones, and their roles. Each client
// gets its own user holding only what it needs, so the AdminUser superuser's password stays with the
// setup Job and the readiness probe, inside this namespace.
const (
	// UserFluentBitWriter ships the logs: it may append to the data stream and nothing else.
	UserFluentBitWriter = "fluentbit_writer"
	// UserGrafanaReader is Grafana's: it may search the data stream and nothing else.
	UserGrafanaReader = "grafana_reader"

	roleLogsWriter = "nexios_logs_writer"
	roleLogsReader = "nexios_logs_reader"
)

// Keys of the credentials Secret for these users' passwords, and the setup ConfigMap's role files.
const (
	SecretKeyFluentBitWriterPassword = "fluent-bit-writer-password"
	SecretKeyGrafanaReaderPassword   = "grafana-reader-password"
	fileWriterRole                   = "role-writer.json"
	fileReaderRole                   = "role-reader.json"
)

// WriterRole is the body of PUT _security/role/<writer role>: create_doc appends documents (the only
// write a data stream accepts), and auto_configure lets the first write create the data stream from
// its index template and later writes add mappings for new fields. auto_configure rather than
// create_index: it creates only as part of a write, never an arbitrary index by request. No cluster
// privilege: Fluent Bit's es output only calls _bulk.
func WriterRole(dataStream string) ([]byte, error) {
	return role(dataStream, nil, "create_doc", "auto_configure")
}

// ReaderRole is the body of PUT _security/role/<reader role>, with the privileges Grafana's
// Elasticsearch datasource documents: read to search, view_index_metadata for the mappings its field
// lists come from, and monitor on the cluster for the version it reads from GET /.
func ReaderRole(dataStream string) ([]byte, error) {
	return role(dataStream, []string{"monitor"}, "read", "view_index_metadata")
}

// role grants privileges on dataStream and its backing indices, which the data stream's privileges
// cover; the pattern is the index template's, so nothing outside the logs matches.
func role(dataStream string, cluster []string, privileges ...string) ([]byte, error) {
	if dataStream == "" {
		return nil, fmt.Errorf("the data stream name is empty")
	}
	body := map[string]any{
		"indices":  []map[string]any{{"names": []string{dataStream + "*"}, "privileges": privileges}},
		"metadata": map[string]any{"managed_by": "nexios-k8s"},
	}
	if cluster != nil {
		body["cluster"] = cluster
	}
	return json.MarshalIndent(body, "", "  ")
}

// userScript is the setup script's lines that create or update a role and a user holding it. PUT on
// both is idempotent: a re-run sets the same privileges and password. The password reaches curl on
// stdin from printf, a shell builtin, so it never appears on a command line; the response echoed
// to the log is only {"created":...}.
func userScript(user, role, roleFile, passwordEnv string) string {
	return fmt.Sprintf(`request PUT '/_security/role/%[2]s' @%[3]s/%[4]s
printf '{"password":"%%s","roles":["%[2]s"]}' "$%[5]s" | request PUT '/_security/user/%[1]s' @-
`, user, role, setupDir, roleFile, passwordEnv)
}
