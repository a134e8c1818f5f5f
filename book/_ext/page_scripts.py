"""Fixes to the scripts in each page's head, both found by the browser test
(tests/site).

1. Sphinx 7.4 puts an inline script that an extension adds while the documents
   are read into every page twice: sphinx-thebe's ``const THEBE_JS_URL = ...``
   then declares its constant twice, a SyntaxError. The first copy is kept.
2. On pages with widgets, a script runs before RequireJS loads and
   - tells RequireJS where the widget manager lives, so that the manager fetches
     its icon fonts from the CDN, not from beside the page (where they are not);
   - gives the site's MathJax 3 the one call of MathJax 2 that ipywidgets' HTML
     and Label widgets make, ``MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])``.
"""

import json

WIDGETS = """var require = {{paths: {paths}}};
document.addEventListener("DOMContentLoaded", () => {{
    if (window.MathJax && !window.MathJax.Hub) {{
        MathJax.Hub = {{Queue: ([, , element]) =>
            MathJax.startup.promise.then(() => MathJax.typesetPromise([element]))}};
    }}
}});"""


def _fix_scripts(app, pagename, templatename, context, doctree):
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        key = (script.filename or "", json.dumps(script.attributes, sort_keys=True))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    requirejs = next(
        (
            i
            for i, s in enumerate(scripts)
            if (s.filename or "").endswith("/require.js")
        ),
        None,
    )
    if requirejs is not None:
        manager = next(
            url
            for url in app.config.nb_ipywidgets_js
            if "/@jupyter-widgets/html-manager@" in url
        )
        paths = {"@jupyter-widgets/html-manager": manager.split("/dist/")[0]}
        inline = type(scripts[requirejs])(
            None, body=WIDGETS.format(paths=json.dumps(paths))
        )
        scripts.insert(requirejs, inline)
    context["script_files"] = scripts


def setup(app):
    # after myst-nb adds the widget scripts
    app.connect("html-page-context", _fix_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
