#!/usr/bin/env bash
# Regenerate book/static/vendored/: the front-end assets the built book serves itself, so that
# math and widgets render with no CDN (offline readers, networks that block CDNs).
#
#   bash book/update_vendor.sh        # needs npm and the npm registry; not needed to build the book
#
# It downloads three pinned npm tarballs (`npm pack`, no dependency tree, no install scripts),
# checks each against the sha512 integrity recorded below, and copies only the files a browser
# needs. To upgrade: change a version, run the script once with the old hash (it prints the new
# one on mismatch), paste the new hash after checking the release, and rebuild the book.
set -euo pipefail
cd "$(dirname "$0")"
dest="static/vendored"

# name@version  sha512 integrity (from the npm registry)
packages=(
  "mathjax@3.2.2 sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
  "requirejs@2.3.8 sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw=="
  "@jupyter-widgets/html-manager@1.0.15 sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for entry in "${packages[@]}"; do
  spec=${entry%% *}
  want=${entry#* }
  name=${spec%@*}
  file=$(cd "$work" && npm pack --silent --ignore-scripts "$spec" | tail -n 1)
  got="sha512-$(openssl dgst -sha512 -binary "$work/$file" | base64 -w0)"
  if [[ "$got" != "$want" ]]; then
    echo "integrity mismatch for $spec: expected $want, got $got" >&2
    exit 1
  fi
  mkdir -p "$work/${name//\//_}"
  tar -xzf "$work/$file" -C "$work/${name//\//_}"
done

rm -rf "$dest/mathjax" "$dest/requirejs" "$dest/html-manager"
mkdir -p "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex" "$dest/requirejs" "$dest/html-manager"

# MathJax 3: the combined TeX+MathML -> CHTML component Sphinx uses by default, the CHTML web
# fonts, and the TeX extensions it autoloads on demand (\boldsymbol, \cancel, \color, ...).
mj="$work/mathjax/package"
cp "$mj/LICENSE" "$dest/mathjax/"
cp "$mj/es5/tex-mml-chtml.js" "$dest/mathjax/"
cp -r "$mj/es5/output/chtml/fonts/woff-v2" "$dest/mathjax/output/chtml/fonts/"
cp -r "$mj/es5/input/tex/extensions" "$dest/mathjax/input/tex/"

# require.js: the AMD loader the widget embed script needs (licence header inside the file).
cp "$work/requirejs/package/require.js" "$dest/requirejs/"

# @jupyter-widgets/html-manager 1.0.x: renders ipywidgets 7/8 state saved in the page. Its
# Font Awesome icon fonts are loaded relative to the script; woff2/woff cover every current
# browser (the eot/ttf/svg copies for old browsers are left out).
hm="$work/@jupyter-widgets_html-manager/package"
cp "$hm/dist/embed-amd.js" "$dest/html-manager/"
cp "$hm"/dist/*.woff2 "$hm"/dist/*.woff "$dest/html-manager/"

du -sh "$dest"
