"""Pages for people: a reviewer's report on one child and a municipality's case-conference list.

Server-rendered (Jinja2 templates, matplotlib charts as inline SVG, WeasyPrint for the A4 PDF),
Japanese first with English on request. `model` holds the report as plain data, `build`
assembles it from the engine and the stores, `render` turns it into HTML, PDF or CSV, `fonts`
locates the shipped Japanese font.
"""
