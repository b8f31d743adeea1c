#!/usr/bin/env bash
# Create (or reuse) the Spark 3.5 + Iceberg 1.10 virtual environment used by floe's Spark
# interop tests (crates/floe-cli/tests/spark.rs), entirely from PyPI and Debian packages.
#
#   interop/spark-setup.sh      -> prints the venv's python path on the last line of stdout
#
# Venv location: ${FLOE_SPARK_VENV:-<repo>/target/spark-venv}
# Python used to create it: ${FLOE_INTEROP_PYTHON:-python3}
#
# What it takes (see interop/NOTES.md, "Spark"):
#   * pyspark 3.5.9 (Scala 2.12; ships its own jars, Spark's Jackson 2.15.2 among them) and
#     snowpark-connect-deps-iceberg 1.0.3, a wheel holding iceberg-spark-runtime-3.5_2.12-1.10.2.jar;
#   * that runtime jar refers to Jackson relocated to org.apache.iceberg.shaded.com.fasterxml.jackson
#     but does not contain it (Iceberg's Maven jar does). This script builds the missing classes once:
#     it relocates Spark's own jackson-core/databind/annotations/datatype-jsr310 jars with jarjar
#     (Debian's libjarjar-java, installed with apt-get when missing) into
#     <venv>/floe-jars/iceberg-shaded-jackson-2.15.2.jar;
#   * Java 17 (`java` on PATH; openjdk-17-jre-headless from apt-get when missing).
# Without apt-get (or as non-root) and with jarjar or java missing, it FAILS, loudly: it never
# produces a venv that cannot run Spark.
#
# Idempotent: a stamp file inside the venv records a hash of spark-requirements.txt, this
# script and the python version; if it matches (and the jars are there), nothing is redone.
# All progress messages go to stderr so that stdout is only the python path.
# Concurrent runs are serialised with flock(1) on "<venv>.lock".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FLOE_SPARK_VENV:-$repo/target/spark-venv}"
base_python="${FLOE_INTEROP_PYTHON:-python3}"
req="$here/spark-requirements.txt"
stamp="$venv/.floe-spark-stamp"
jackson_version=2.15.2
shaded="$venv/floe-jars/iceberg-shaded-jackson-$jackson_version.jar"

log() { echo "interop/spark-setup.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
fi

# Debian packages this needs, installed when missing (the machine is root with apt).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$1 is missing and there is no apt-get to install $2"
    [[ "$(id -u)" == 0 ]] || die "$1 is missing; install the Debian package $2 (needs root)"
    log "installing Debian package $2 (for $1)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; then
        apt-get update -q >&2 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 || die "apt-get install $2 failed"
    fi
}
command -v java >/dev/null 2>&1 || apt_install java openjdk-17-jre-headless
jarjar=/usr/share/java/jarjar.jar
[[ -f "$jarjar" ]] || apt_install "$jarjar" libjarjar-java
[[ -f "$jarjar" ]] || die "libjarjar-java is installed but $jarjar is not there"

want="$( { cat "$req" "${BASH_SOURCE[0]}"; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

py="$venv/bin/python"
if [[ -x "$py" && -f "$stamp" && -f "$shaded" && "$(cat "$stamp")" == "$want" ]] && "$py" -c 'import sys' 2>/dev/null; then
    log "venv $venv is up to date (stamp matches)"
    echo "$py"
    exit 0
fi

if [[ ! -x "$py" ]] || ! "$py" -c 'import sys' 2>/dev/null; then
    log "creating venv at $venv"
    rm -rf "$venv"
    "$base_python" -m venv "$venv"
fi

# Remove a stale stamp first: if anything below fails half-way, the next run retries.
rm -f "$stamp"
log "installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned requirements (pyspark is a ~320 MB download)"
"$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2

# Relocate Spark's Jackson into the package the Iceberg runtime jar expects. jarjar 1.4's
# bundled ASM is too old for module-info and multi-release (Java 9+) classes, so the input
# is the plain classes of the four jars merged into one (first copy of a name wins; they do
# not overlap), without META-INF and module-info.
log "relocating Spark's Jackson $jackson_version into org.apache.iceberg.shaded.com.fasterxml.jackson"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" - "$work/jackson.jar" "$jackson_version" >&2 <<'PY'
import pathlib, sys, zipfile
import pyspark
out, version = sys.argv[1], sys.argv[2]
jars = pathlib.Path(pyspark.__file__).parent / "jars"
names = [f"jackson-{a}-{version}.jar" for a in ("core", "databind", "annotations", "datatype-jsr310")]
seen = set()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in names:
        path = jars / name
        if not path.is_file():
            sys.exit(f"missing {path}: pyspark's jars changed?")
        with zipfile.ZipFile(path) as src:
            for info in src.infolist():
                n = info.filename
                if n.startswith("META-INF/") or not n.endswith(".class") or n.endswith("module-info.class") or n in seen:
                    continue
                seen.add(n)
                z.writestr(n, src.read(n))
print(f"merged {len(seen)} classes from {', '.join(names)}")
PY
echo 'rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1' > "$work/rules.txt"
mkdir -p "$(dirname "$shaded")"
java -jar "$jarjar" process "$work/rules.txt" "$work/jackson.jar" "$work/shaded.jar" >&2
mv "$work/shaded.jar" "$shaded"

# Smoke check: the runtime jar is where floe_spark.py looks, and the relocated classes the
# runtime refers to are in the built jar.
"$py" - "$shaded" >&2 <<'PY'
import pathlib, sys, zipfile
import pyspark, snowpark_connect_deps_iceberg
root = pathlib.Path(snowpark_connect_deps_iceberg.__file__).parent / "jars"
runtime = root / "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
assert runtime.is_file(), f"no {runtime}"
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for cls in ("databind/ObjectMapper", "core/JsonFactory", "annotation/JsonProperty", "datatype/jsr310/JavaTimeModule"):
    path = f"org/apache/iceberg/shaded/com/fasterxml/jackson/{cls}.class"
    assert path in names, f"{path} missing from {sys.argv[1]}"
print("ok: pyspark", pyspark.__version__, "iceberg runtime", runtime.name)
PY

echo "$want" > "$stamp"
log "venv ready"
echo "$py"
