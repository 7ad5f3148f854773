package logging

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The admin user lives in the file realm: its line carries the bcrypt hash, never the password, and
// the Secret reaches Elasticsearch's config directory as two read-only files.
func TestFileRealmHoldsTheAdminUser(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	realm := m.Find(t, tSecret, "logs-es-file-realm")
	if got, want := realm.String(`stringData["users"]`), AdminUser+":"+adminHash+"\n"; got != want {
		t.Errorf("users = %q, want %q", got, want)
	}
	if got, want := realm.String(`stringData["users_roles"]`), "superuser:"+AdminUser+"\n"; got != want {
		t.Errorf("users_roles = %q, want %q", got, want)
	}
	if !realm.IsSecret(`stringData["users"]`) || !realm.IsSecret(`stringData["users_roles"]`) {
		t.Error("the file realm's data is not secret")
	}
	for _, key := range []string{"users", "users_roles"} {
		if strings.Contains(realm.String(`stringData["`+key+`"]`), adminPassword) {
			t.Errorf("%s carries the plain password", key)
		}
	}

	sts := m.Find(t, tStatefulSet, "logs-es")
	volume := -1
	for i := 0; i < sts.Len("spec.template.spec.volumes"); i++ {
		if sts.String("spec.template.spec.volumes["+strconv.Itoa(i)+"].secret.secretName") == "logs-es-file-realm-abc123" {
			volume = i
		}
	}
	if volume < 0 {
		t.Fatal("no volume of the file realm's Secret")
	}
	v := "spec.template.spec.volumes[" + strconv.Itoa(volume) + "]"
	if got := sts.Number(v + ".secret.defaultMode"); got != 0o440 {
		t.Errorf("defaultMode = %o, want 0440 (group-readable through the pod's fsGroup)", int(got))
	}
	if got := sts.Number("spec.template.spec.securityContext.fsGroup"); got != esUID {
		t.Errorf("fsGroup = %v, want Elasticsearch's group %d, which reads the files", got, esUID)
	}
	c := "spec.template.spec.containers[0]"
	mounts := map[string]string{}
	for i := 0; i < sts.Len(c+".volumeMounts"); i++ {
		p := c + ".volumeMounts[" + strconv.Itoa(i) + "]"
		if sts.String(p+".name") != sts.String(v+".name") {
			continue
		}
		if ro, _ := sts.Bool(p + ".readOnly"); !ro {
			t.Errorf("%s is writable", sts.String(p+".mountPath"))
		}
		mounts[sts.String(p+".mountPath")] = sts.String(p + ".subPath")
	}
	want := map[string]string{esHome + "/config/users": "users", esHome + "/config/users_roles": "users_roles"}
	if len(mounts) != len(want) || mounts[esHome+"/config/users"] != "users" || mounts[esHome+"/config/users_roles"] != "users_roles" {
		t.Errorf("file realm mounts %v, want %v", mounts, want)
	}
}

// Nothing logs in as `elastic` any more: the probe and the Job use the admin user, and the image
// gets no ELASTIC_PASSWORD to bootstrap `elastic` with.
func TestNothingLogsInAsElastic(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	sts := m.Find(t, tStatefulSet, "logs-es")
	c := "spec.template.spec.containers[0]"
	probe := sts.String(c + ".readinessProbe.exec.command[2]")
	if !strings.Contains(probe, `user = "`+AdminUser+`:%s"`) || !strings.Contains(probe, "$"+envAdminPassword) {
		t.Errorf("readiness probe does not log in as %s:\n%s", AdminUser, probe)
	}
	job := m.Find(t, tJob, "logs-setup")
	script := m.Find(t, tConfigMap, "logs-setup").String(`data["setup.sh"]`)
	if !strings.Contains(script, `user = "`+AdminUser+`:%s"`) {
		t.Errorf("setup script does not log in as %s:\n%s", AdminUser, script)
	}
	if !strings.Contains(script, "PUT /_security/user/elastic/_disable") {
		t.Error("setup script does not disable the elastic user")
	}
	for what, text := range map[string]string{"probe": probe, "setup script": script} {
		if strings.Contains(text, "elastic:") || strings.Contains(text, "ELASTIC_PASSWORD") {
			t.Errorf("the %s still logs in as elastic:\n%s", what, text)
		}
	}
	for name, e := range map[string]map[string]string{"elasticsearch": env(sts, c), "setup": env(job, "spec.template.spec.containers[0]")} {
		if _, set := e["ELASTIC_PASSWORD"]; set {
			t.Errorf("%s still gets ELASTIC_PASSWORD", name)
		}
		if e[envAdminPassword] != "secret:"+SecretKeyAdminPassword {
			t.Errorf("%s %s = %q, want the credentials Secret's %s", name, envAdminPassword, e[envAdminPassword], SecretKeyAdminPassword)
		}
	}
}

// A new admin password (a rotation) restarts the Elasticsearch pods, which read the new file realm,
// and re-runs the setup Job with it; the other users' passwords leave Elasticsearch's pods alone.
func TestAdminPasswordChangeRollsElasticsearchAndTheJob(t *testing.T) {
	checksums := func(change func(a *LoggingArgs)) (es, job string) {
		a := devArgs()
		change(&a)
		m, _ := deploy(t, a)
		sum := `spec.template.metadata.annotations["checksum/config"]`
		sts := m.Find(t, tStatefulSet, "logs-es")
		if !sts.IsSecret(sum) {
			t.Error("the Elasticsearch checksum is not secret (it covers the password hash)")
		}
		return sts.String(sum), m.Find(t, tJob, "logs-setup").String(sum)
	}
	es, job := checksums(func(*LoggingArgs) {})
	if len(es) != 64 {
		t.Fatalf("Elasticsearch pod-template checksum = %q, want a sha256", es)
	}
	rotatedES, rotatedJob := checksums(func(a *LoggingArgs) {
		a.AdminPassword = pulumi.ToSecret(pulumi.String("admin-pw-2")).(pulumi.StringOutput)
		a.AdminPasswordHash = pulumi.ToSecret(pulumi.String("$2a$10$anotherhash")).(pulumi.StringOutput)
	})
	if rotatedES == es {
		t.Error("a new admin password does not change the Elasticsearch pods' checksum: they would keep the old file realm")
	}
	if rotatedJob == job {
		t.Error("a new admin password does not change the Job's checksum: it would not re-run")
	}
	kibanaES, _ := checksums(func(a *LoggingArgs) {
		a.KibanaSystemPassword = pulumi.ToSecret(pulumi.String("kibana-pw-2")).(pulumi.StringOutput)
	})
	if kibanaES != es {
		t.Error("kibana_system's password restarts Elasticsearch, which never reads it")
	}
}
