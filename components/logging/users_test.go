package logging

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

type roleBody struct {
	Cluster []string `json:"cluster"`
	Indices []struct {
		Names      []string `json:"names"`
		Privileges []string `json:"privileges"`
	} `json:"indices"`
}

func TestRolesGrantOnlyWhatEachClientNeeds(t *testing.T) {
	for _, tt := range []struct {
		name       string
		build      func(string) ([]byte, error)
		cluster    []string
		privileges []string
	}{
		// Appending to a data stream and letting the first write create it; Fluent Bit calls only _bulk.
		{"writer", WriterRole, nil, []string{"create_doc", "auto_configure"}},
		// What Grafana's Elasticsearch datasource documents: search, mappings, the version from GET /.
		{"reader", ReaderRole, []string{"monitor"}, []string{"read", "view_index_metadata"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.build("nexios-logs")
			if err != nil {
				t.Fatal(err)
			}
			var r roleBody
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("role is not JSON: %v\n%s", err, raw)
			}
			if !slices.Equal(r.Cluster, tt.cluster) {
				t.Errorf("cluster privileges %v, want %v", r.Cluster, tt.cluster)
			}
			if len(r.Indices) != 1 || !slices.Equal(r.Indices[0].Names, []string{"nexios-logs*"}) ||
				!slices.Equal(r.Indices[0].Privileges, tt.privileges) {
				t.Errorf("index privileges %+v, want %v on nexios-logs* only", r.Indices, tt.privileges)
			}
			if _, err := tt.build(""); err == nil {
				t.Error("an empty data stream was accepted")
			}
		})
	}
}

// The writer user always exists with logging; the reader only when Grafana reads the logs.
func TestSetupJobCreatesTheClientsUsers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    LoggingArgs
		grafana bool
	}{{"without grafana", devArgs(), false}, {"with grafana", prodArgs(), true}} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			cm := m.Find(t, tConfigMap, "logs-setup")
			script := cm.String(`data["setup.sh"]`)
			writer := []string{
				"PUT '/_security/role/nexios_logs_writer' @/setup/role-writer.json",
				`"roles":["nexios_logs_writer"]}' "$FLUENT_BIT_WRITER_PASSWORD" | request PUT '/_security/user/fluentbit_writer' @-`,
			}
			reader := []string{
				"PUT '/_security/role/nexios_logs_reader' @/setup/role-reader.json",
				`"roles":["nexios_logs_reader"]}' "$GRAFANA_READER_PASSWORD" | request PUT '/_security/user/grafana_reader' @-`,
			}
			for _, want := range writer {
				if !strings.Contains(script, want) {
					t.Errorf("setup script lacks %q:\n%s", want, script)
				}
			}
			for _, want := range reader {
				if strings.Contains(script, want) != tt.grafana {
					t.Errorf("setup script has %q: %v, want %v", want, !tt.grafana, tt.grafana)
				}
			}
			if cm.String(`data["role-writer.json"]`) == "" {
				t.Error("no writer role in the setup ConfigMap")
			}
			if got := cm.String(`data["role-reader.json"]`) != ""; got != tt.grafana {
				t.Errorf("reader role in the ConfigMap: %v, want %v", got, tt.grafana)
			}

			job := m.Find(t, tJob, "logs-setup")
			e := env(job, "spec.template.spec.containers[0]")
			if e["FLUENT_BIT_WRITER_PASSWORD"] != "secret:"+SecretKeyFluentBitWriterPassword {
				t.Errorf("writer password env %q", e["FLUENT_BIT_WRITER_PASSWORD"])
			}
			if got, set := e["GRAFANA_READER_PASSWORD"]; set != tt.grafana || (set && got != "secret:"+SecretKeyGrafanaReaderPassword) {
				t.Errorf("reader password env %q (set %v), want set %v", got, set, tt.grafana)
			}

			creds := m.Find(t, tSecret, "logs-credentials")
			if creds.String(`stringData["`+SecretKeyFluentBitWriterPassword+`"]`) != writerPassword ||
				!creds.IsSecret(`stringData["`+SecretKeyFluentBitWriterPassword+`"]`) {
				t.Error("the writer password is not in the credentials Secret, or not secret")
			}
			stored, set := creds.Get(`stringData["` + SecretKeyGrafanaReaderPassword + `"]`)
			if set != tt.grafana {
				t.Errorf("reader password in the credentials Secret: %v, want %v", set, tt.grafana)
			}
			if set && (stored.StringValue() != readerPassword || !creds.IsSecret(`stringData["`+SecretKeyGrafanaReaderPassword+`"]`)) {
				t.Error("the reader password is wrong or not secret")
			}
		})
	}
}

// The script runs with its output in the Job's log: no password may be printed or passed on a
// command line, where any process listing would show it.
func TestSetupScriptNeverExposesPasswords(t *testing.T) {
	script := setupScript("nexios-logs", true)
	if strings.Contains(script, "set -x") || strings.Contains(script, "set -o xtrace") {
		t.Error("the script traces its commands, passwords included")
	}
	if regexp.MustCompile(`(^|\s)(-u|--user)\s`).MatchString(script) {
		t.Error("curl gets credentials on its command line")
	}
	// Every use of a password is printf, a shell builtin, into the memory-backed curl config or a pipe
	// into curl's stdin.
	usage := regexp.MustCompile(`^printf '[^']*' "\$[A-Z_]+_PASSWORD" (> /tmp/auth|\| request (PUT|POST) \S+ @-)$`)
	uses := 0
	for _, line := range strings.Split(script, "\n") {
		if !strings.Contains(line, "_PASSWORD") {
			continue
		}
		uses++
		if !usage.MatchString(line) {
			t.Errorf("password used outside printf into the curl config or stdin: %s", line)
		}
	}
	if uses != 4 {
		t.Errorf("%d password uses, want elastic, kibana_system, fluentbit_writer and grafana_reader", uses)
	}
	// The ConfigMap is not secret: none of the passwords may be in it.
	m, _ := deploy(t, prodArgs())
	cm := m.Find(t, tConfigMap, "logs-setup")
	for key := range cm.Inputs["data"].ObjectValue() {
		for _, pw := range []string{adminPassword, kibanaPassword, writerPassword, readerPassword} {
			if strings.Contains(cm.String(`data["`+string(key)+`"]`), pw) {
				t.Errorf("setup ConfigMap %s holds a password", key)
			}
		}
	}
}

// A new reader or writer password changes the Job's template, so the Job runs again and sets it.
func TestNewUserPasswordsRerunTheSetupJob(t *testing.T) {
	checksum := func(args LoggingArgs) string {
		m, _ := deploy(t, args)
		return m.Find(t, tJob, "logs-setup").String(`spec.template.metadata.annotations["checksum/config"]`)
	}
	base := checksum(prodArgs())
	writer := prodArgs()
	writer.FluentBitWriterPassword = pulumi.ToSecret(pulumi.String("writer-pw-2")).(pulumi.StringOutput)
	reader := prodArgs()
	grafana := *reader.Grafana
	grafana.Password = pulumi.ToSecret(pulumi.String("reader-pw-2")).(pulumi.StringOutput)
	reader.Grafana = &grafana
	if checksum(writer) == base || checksum(reader) == base {
		t.Error("a rotated user password does not re-run the setup Job")
	}
}

// The CA certificate goes to other namespaces' clients (Grafana): it is public, so not a secret output.
func TestCACertificateOutputIsPublic(t *testing.T) {
	_, l := deploy(t, devArgs())
	got, secret := mocktest.Await(t, l.CACertificate)
	want, err := caCertificate(caSeed)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || secret {
		t.Errorf("caCertificate = %.40q (secret %v), want the CA's PEM in the clear", got, secret)
	}
}
