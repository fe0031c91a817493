"""Pages for reviewers: a child's report (HTML and A4 PDF) and the case-conference list (HTML
and CSV), plus the font they are set in.

The pages are meant to be opened through the municipality's child-support system, which holds
the key and adds X-API-Key and X-Purpose to each request (as it does for the JSON routes);
the links between pages are relative, so they keep working behind such a proxy. Roles, scope
and audit are those of the other child-level routes: a child or municipality the key may not
see is 404, and every child shown is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from service.api.runs import (
    BandQuery,
    ChildLevelDep,
    HardshipQuery,
    LimitQuery,
    RunQuery,
    flagged_children,
)
from service.deps import (
    AuditDep,
    Caller,
    EngineDep,
    PurposeDep,
    Role,
    SessionDep,
    SettingsDep,
    require_roles,
)
from service.errors import ERROR_RESPONSES, api_error
from service.reports.build import build_child_report
from service.reports.fonts import FONT_FILE, LICENCE_FILE, font_directory
from service.reports.model import ChildReport
from service.reports.render import (
    CSV_COLUMNS,
    STATIC_PREFIX,
    flagged_csv,
    render_flagged_html,
    render_report_html,
    render_report_pdf,
)
from service.schemas.common import ErrorBody
from service.schemas.runs import FlaggedList
from service.thresholds import BandName

__all__ = ["router"]

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)

ReportReaderDep = Annotated[Caller, Depends(require_roles(Role.REVIEWER))]
Lang = Literal["ja", "en"]
LangQuery = Annotated[Lang, Query(description="ja (default) or en.")]
MonthQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="As-of month (default: the latest)."),
]
_STATIC_FILES: Final = {
    FONT_FILE: "font/ttf",
    LICENCE_FILE: "text/plain; charset=utf-8",
}
_PURPOSE_HEADER: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "examples": ["case_conference"]},
            "description": "Why the child is looked at (a registered purpose); audited.",
        }
    ]
}
_CHILD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "X-Purpose missing or not a registered purpose."},
    404: {"model": ErrorBody, "description": "Unknown child (or one the key may not see)."},
    503: {"model": ErrorBody, "description": "No model is loaded yet."},
}
_CSV_DESCRIPTION = "\n".join(f"- `{name}`: {meaning}" for name, meaning in CSV_COLUMNS)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _other_lang_url(request: Request, lang: Lang) -> str:
    params = dict(request.query_params)
    params["lang"] = "en" if lang == "ja" else "ja"
    return f"{_root(request)}{request.url.path}?{urlencode(params)}"


# -- static --------------------------------------------------------------------------------------


@router.get(
    f"{STATIC_PREFIX}/fonts/{{name}}",
    response_class=FileResponse,
    responses={404: {"model": ErrorBody, "description": "No such file."}},
    summary="The reports' font (IPAexGothic) and its licence; no key needed",
    include_in_schema=False,
)
def static_font(name: str) -> FileResponse:
    """Only the two named files: the folder is never listed or walked."""
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        raise api_error(status.HTTP_404_NOT_FOUND, "no such file", "name")
    return FileResponse(
        font_directory() / name,
        media_type=media_type,
        # The file changes only with the package version; browsers may keep it for a day.
        headers={"Cache-Control": "public, max-age=86400"},
    )


# -- a child's report ----------------------------------------------------------------------------


def _report(
    child_id: str,
    month: str | None,
    caller: Caller,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
) -> ChildReport:
    if engine.latest_month is None:
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, "no feature store is loaded", None)
    if month is not None and month not in engine.months():
        raise api_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"no features for the month {month}", "month"
        )
    row = engine.feature_row(child_id, month)
    audit.child(child_id, row.municipality if row is not None else None)
    if row is None or not caller.sees(row.municipality):
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown child", "child_id")
    if not engine.ready_hardships():
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, "no model is loaded yet", None)
    return build_child_report(engine, session, row, sees=caller.sees)


@router.get(
    "/v1/children/{child_id}/report",
    response_class=HTMLResponse,
    responses=_CHILD_ERRORS,
    summary="A reviewer's report on one child (HTML, Japanese first)",
    openapi_extra=_PURPOSE_HEADER,
)
def child_report(
    request: Request,
    child_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    caller: ReportReaderDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    lang: LangQuery = "ja",
    month: MonthQuery = None,
) -> HTMLResponse:
    """Scores per hardship with band and percentile, a waterfall of the top factors,
    over-influence warnings, the data sources and their freshness, sources the municipality
    does not hold, support status, the score history and earlier reviews, and what the model
    cannot know. Printable on A4; the same page as PDF at `report.pdf`."""
    report = _report(child_id, month, caller, audit, session, engine)
    root = _root(request)
    query = urlencode({k: v for k, v in (("lang", lang), ("month", month)) if v})
    html = render_report_html(
        report,
        lang,
        static_prefix=f"{root}{STATIC_PREFIX}",
        pdf_url=f"{root}/v1/children/{quote(child_id)}/report.pdf?{query}",
        other_lang_url=_other_lang_url(request, lang),
    )
    return HTMLResponse(html)


@router.get(
    "/v1/children/{child_id}/report.pdf",
    response_class=Response,
    responses={
        **_CHILD_ERRORS,
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The report, A4.",
        },
    },
    summary="The same report as an A4 PDF",
    openapi_extra=_PURPOSE_HEADER,
)
def child_report_pdf(
    child_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    caller: ReportReaderDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    lang: LangQuery = "ja",
    month: MonthQuery = None,
) -> Response:
    report = _report(child_id, month, caller, audit, session, engine)
    pdf = render_report_pdf(report, lang)
    name = f"mimamori-report-{report.as_of_month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            # Personal data: never from a shared cache.
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{name}"',
        },
    )


# -- the case-conference list --------------------------------------------------------------------


def _flagged(
    municipality: str,
    caller: Caller,
    purpose: str,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    hardship: str | None,
    band: BandName | None,
    run_id: int | None,
    limit: int | None,
) -> FlaggedList:
    # C's route function is the one query of the list (scope, limits, audit of each child).
    return flagged_children(
        municipality=municipality,
        caller=caller,
        purpose=purpose,
        audit=audit,
        session=session,
        engine=engine,
        settings=settings,
        hardship=hardship,
        band=band,
        run_id=run_id,
        limit=limit,
    )


@router.get(
    "/v1/municipalities/{municipality}/flagged.html",
    response_class=HTMLResponse,
    responses=_CHILD_ERRORS,
    summary="The case-conference list as a page, each child linking to its report",
    openapi_extra=_PURPOSE_HEADER,
)
def flagged_page(
    request: Request,
    municipality: Annotated[str, PathParam(examples=["990001"])],
    caller: ChildLevelDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    lang: LangQuery = "ja",
    hardship: HardshipQuery = None,
    band: BandQuery = None,
    run_id: RunQuery = None,
    limit: LimitQuery = None,
) -> HTMLResponse:
    """GET /v1/municipalities/{m}/flagged as a page: per band, highest probability first,
    one line of reasons each; already-supported children apart."""
    flagged = _flagged(
        municipality,
        caller,
        purpose,
        audit,
        session,
        engine,
        settings,
        hardship,
        band,
        run_id,
        limit,
    )
    root = _root(request)
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    csv_query = urlencode(params)

    def report_url(child_id: str) -> str:
        return f"{root}/v1/children/{quote(child_id)}/report?{urlencode({'lang': lang})}"

    html = render_flagged_html(
        flagged,
        lang,
        report_url=report_url,
        csv_url=f"{root}/v1/municipalities/{quote(municipality)}/flagged.csv"
        + (f"?{csv_query}" if csv_query else ""),
        other_lang_url=_other_lang_url(request, lang),
        static_prefix=f"{root}{STATIC_PREFIX}",
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get(
    "/v1/municipalities/{municipality}/flagged.csv",
    response_class=Response,
    responses={
        **_CHILD_ERRORS,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The list, UTF-8 with BOM.",
        },
    },
    summary="The case-conference list as CSV for the municipal system (UTF-8 with BOM)",
    description="One row per flagged child and hardship, not-yet-supported children first, "
    "each part highest probability first. UTF-8 with a byte-order mark (so Excel reads the "
    "Japanese correctly), CRLF line ends, a header row. Columns:\n\n" + _CSV_DESCRIPTION,
    openapi_extra=_PURPOSE_HEADER,
)
def flagged_export(
    municipality: Annotated[str, PathParam(examples=["990001"])],
    caller: ChildLevelDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    hardship: HardshipQuery = None,
    band: BandQuery = None,
    run_id: RunQuery = None,
    limit: LimitQuery = None,
) -> Response:
    flagged = _flagged(
        municipality,
        caller,
        purpose,
        audit,
        session,
        engine,
        settings,
        hardship,
        band,
        run_id,
        limit,
    )
    name = f"flagged-{flagged.municipality}-{flagged.as_of_month}-run{flagged.run_id}.csv"
    return Response(
        flagged_csv(flagged),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )
