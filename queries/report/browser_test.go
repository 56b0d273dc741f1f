package report

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of a Chromium-like browser, or skips the test
// (make deps installs chromium with apt-get).
func chromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine (make deps installs it)")
	return ""
}

// browse runs headless Chromium on a file with extra flags and returns its
// stdout and the console messages it logged (Chromium logs each console
// message of the page to stderr as INFO:CONSOLE).
func browse(t *testing.T, bin, file string, flags ...string) (stdout string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
		"--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+file)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, errb.String())
	}
	for _, line := range strings.Split(errb.String(), "\n") {
		if consoleLine.MatchString(line) {
			console = append(console, line)
		}
	}
	return out.String(), console
}

var consoleLine = regexp.MustCompile(`:CONSOLE[:(]`)

// probeScript, appended to a copy of the page (never to the report), runs
// after load and writes into the DOM what the test cannot see from
// outside: the laid-out size of every SVG, and every resource the page
// fetched or refers to (resource timing, stylesheets, elements with a src
// or href other than links, web fonts).
const probeScript = `<script>
window.addEventListener('load', () => {
  const res = new Set(performance.getEntriesByType('resource').map(e => e.name));
  for (const s of document.styleSheets) if (s.href) res.add(s.href);
  document.querySelectorAll('[src], [href], [srcset], [poster]').forEach(e => {
    if (e.tagName === 'A') return;
    for (const k of ['src', 'href', 'srcset', 'poster']) {
      const v = e.getAttribute(k) || '';
      if (v && !v.startsWith('#') && !v.startsWith('data:')) res.add(e.tagName + ' ' + k + '=' + v);
    }
  });
  document.querySelectorAll('script').forEach(e => { if (e.src) res.add('script ' + e.src); });
  if (document.fonts) document.fonts.forEach(f => res.add('font ' + f.family));
  const out = {svgs: [], resources: [...res]};
  document.querySelectorAll('svg').forEach(s => {
    const r = s.getBoundingClientRect();
    out.svgs.push({id: s.id, w: r.width, h: r.height, shapes: s.querySelectorAll('path').length, texts: s.querySelectorAll('text').length});
  });
  const pre = document.createElement('pre');
  pre.id = 'vitlab-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>`

type probe struct {
	SVGs []struct {
		ID            string
		W, H          float64
		Shapes, Texts int
	}
	Resources []string
}

// probePage loads a copy of page with probeScript and returns what it saw
// and the console messages.
func probePage(t *testing.T, bin, page string) (probe, []string) {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	i := strings.LastIndex(src, "</body>")
	if i < 0 {
		t.Fatalf("%s has no </body>", page)
	}
	copyPath := filepath.Join(filepath.Dir(page), "probe-"+filepath.Base(page))
	if err := os.WriteFile(copyPath, []byte(src[:i]+probeScript+src[i:]), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(copyPath)
	dom, console := browse(t, bin, copyPath, "--dump-dom")
	m := regexp.MustCompile(`(?s)<pre id="vitlab-probe">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not run in %s (%d bytes of DOM)", page, len(dom))
	}
	var p probe
	if err := json.Unmarshal([]byte(strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&quot;", `"`).Replace(m[1])), &p); err != nil {
		t.Fatalf("probe output: %v", err)
	}
	return p, console
}

// TestReportInBrowser opens the sample report in headless Chromium as a
// reader would: no console message, nothing fetched, every chart laid out
// with a size and its shapes and text, and a screenshot saved (its path is
// logged; VITLAB_SCREENSHOT names another).
func TestReportInBrowser(t *testing.T) {
	bin := chromium(t)
	r := writeReport(t, sampleWarehouse(t))
	page := filepath.Join(r.out, "index.html")

	p, console := probePage(t, bin, page)
	if len(console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
	}
	if len(p.Resources) > 0 {
		t.Errorf("the page fetched %v", p.Resources)
	}
	if len(p.SVGs) != r.sum.Charts {
		t.Errorf("%d SVGs in the rendered page, the report drew %d charts", len(p.SVGs), r.sum.Charts)
	}
	for _, s := range p.SVGs {
		if s.W < 100 || s.H < 100 || s.Shapes < 5 || s.Texts < 3 {
			t.Errorf("chart %s rendered %.0f×%.0f px with %d shapes and %d texts", s.ID, s.W, s.H, s.Shapes, s.Texts)
		}
	}

	shot := os.Getenv("VITLAB_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(os.TempDir(), "vitlab-report-screenshot.png")
	}
	_, console = browse(t, bin, page, "--screenshot="+shot, "--window-size=1400,5000")
	if len(console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot of the sample report: %s", shot)
}

// TestBrowserProbeFindsProblems is the negative control of the browser
// test: a page that logs to the console and fetches a resource is caught.
func TestBrowserProbeFindsProblems(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "bad.html")
	os.WriteFile(filepath.Join(dir, "x.css"), []byte("p{color:red}"), 0o644)
	if err := os.WriteFile(page, []byte(`<!doctype html><html><head><link rel="stylesheet" href="x.css"></head>
<body><svg width="10" height="10"></svg><script>console.error("boom")</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, console := probePage(t, bin, page)
	if len(console) != 1 || !strings.Contains(console[0], "boom") {
		t.Errorf("console %q, want the one error", console)
	}
	if len(p.Resources) == 0 || !strings.Contains(strings.Join(p.Resources, " "), "x.css") {
		t.Errorf("resources %v, want x.css", p.Resources)
	}
	if len(p.SVGs) != 1 || p.SVGs[0].W != 10 {
		t.Errorf("svgs %+v", p.SVGs)
	}
}
