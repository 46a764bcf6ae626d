# Setup. On Colab: fetch the book's repository at its release and install it, keeping Colab's torch and
# ipywidgets. Anywhere else (a checkout, plain Jupyter, other hosted notebooks) it does nothing.
HITSLITE_REF = "v0.1.0"  # the release this chapter was written for: a tag or a commit


def _setup_hitslite(ref=HITSLITE_REF):
    import importlib
    import importlib.metadata as md
    import json
    import os
    import re
    import site
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    colab = "google.colab" in sys.modules
    if not (colab or os.environ.get("HITSLITE_FORCE_SETUP") == "1"):
        return
    ref = os.environ.get("HITSLITE_REF", ref)
    url = os.environ.get("HITSLITE_REPOSITORY", "https://github.com/hitslite/hitslite")
    # a folder that cannot shadow the package: never ./hitslite (after a restart it would be imported
    # from the working directory as an empty namespace package)
    src = Path(os.environ.get("HITSLITE_SRC", "/content/hitslite-src" if colab else "~/hitslite-src"))
    src = src.expanduser().resolve()

    def run(*cmd):
        subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL)

    def git(*args):
        done = subprocess.run(["git", "-C", src, *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    # 1. the sources at the pinned ref (skipped when the clone already holds it)
    if git("config", "hitslite.ref") != ref or git("rev-parse", "HEAD") is None:
        print(f"hitslite: fetching {ref} of {url} into {src}")
        if not (src / ".git").exists():
            run("git", "init", "-q", src)
            run("git", "-C", src, "remote", "add", "origin", url)
        run("git", "-C", src, "fetch", "-q", "--depth", "1", "origin", ref)
        run("git", "-C", src, "checkout", "-q", "--detach", "FETCH_HEAD")
        run("git", "-C", src, "config", "hitslite.ref", ref)

    # 2. the package, editable: it finds its data/ (the pretrained weights) in the clone, so the chapter
    #    needs no particular working directory; --no-deps: Colab's torch and ipywidgets stay as they are
    def installed_from_src():
        try:
            info = json.loads(md.distribution("hitslite").read_text("direct_url.json") or "{}")
        except md.PackageNotFoundError:
            return False
        return info.get("url") == src.as_uri() and info.get("dir_info", {}).get("editable", False)

    if not installed_from_src():
        print("hitslite: installing the package (editable; torch and ipywidgets untouched)")
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run(*pip, "--no-deps", "-e", src)
        importlib.invalidate_caches()
        # 3. only the missing dependencies, under a constraint that pins the torch and ipywidgets present
        missing = []
        for req in md.requires("hitslite") or []:
            if ";" in req:  # a requirement with a marker belongs to an extra (fast, book, test)
                continue
            try:
                md.version(re.match(r"[A-Za-z0-9._-]+", req).group(0))
            except md.PackageNotFoundError:
                missing.append(req)
        if missing:
            pins = {}
            for name in ("torch", "ipywidgets"):
                try:
                    pins[name] = md.version(name)
                except md.PackageNotFoundError:
                    pass
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
                constraints.write("".join(f"{n}=={v}\n" for n, v in pins.items()))
            run(*pip, "-c", constraints.name, *missing)
            os.unlink(constraints.name)
        # this kernel started before the install: run the editable install's .pth hook now (a restarted
        # kernel reads it at start-up, which is what makes the import survive "Restart session")
        for folder in [*site.getsitepackages(), site.getusersitepackages()]:
            for pth in sorted(Path(folder).glob("__editable__*hitslite*.pth")):
                for line in pth.read_text().splitlines():
                    if line.startswith(("import ", "import\t")):
                        exec(line)
                    elif line.strip() and line.strip() not in sys.path:
                        sys.path.append(line.strip())
        importlib.invalidate_caches()

    if colab:  # widgets render with Colab's custom widget manager (needed by ipywidgets 8)
        try:
            from google.colab import output

            output.enable_custom_widget_manager()
        except (ImportError, AttributeError):
            pass


_setup_hitslite()
del _setup_hitslite
