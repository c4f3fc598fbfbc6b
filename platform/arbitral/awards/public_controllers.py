"""Public routes: verify a commission's document by its code or by the file (no account)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from arbitral.auth.controllers import tenant_by_slug
from arbitral.auth.guards import public
from arbitral.awards import verification
from arbitral.errors import FieldProblem, NotFound, ValidationFailed
from arbitral.templating import environment

AnyRequest = Request[Any, Any, Any]
LIMIT = verification.MAX_PDF + (1 << 20)


def _page(request: AnyRequest, tenant: Any, status: int = 200, **context: Any) -> Response[str]:
    root = str(Path(request.app.state.settings.templates_dir))
    template = environment(root, tenant.slug, "pages", html=True).get_template("verify.html")
    values = {"verdict": None, "document": None, "code": "", **context}
    html = template.render(commission=tenant.names.zh, action=f"/t/{tenant.slug}/verify", **values)
    return Response(
        html,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; "
            "style-src 'unsafe-inline'; form-action 'self'",
        },
    )


class VerificationController(Controller):
    path = "/t/{tenant_slug:str}"
    tags = ("verification",)

    @get(
        "/documents/verify/{code:str}",
        opt=public(),
        summary="The document the commission issued under a verification code (JSON)",
        description="404 when the commission issued no document under that code.",
    )
    async def by_code(
        self, request: AnyRequest, tenant_slug: FromPath[str], code: FromPath[str]
    ) -> dict[str, Any]:
        tenant = await tenant_by_slug(request, tenant_slug)
        found = await verification.by_code(request.app.state.runtime, tenant, code)
        if found is None:
            raise NotFound("the commission issued no document under this code")
        return found.as_json()

    @post(
        "/documents/verify",
        opt=public(),
        summary="Check a PDF: a genuine, unaltered document of the commission? (JSON)",
        description=(
            "Send the PDF as the request body. `genuine` is true only when the file is signed "
            "by the commission, unaltered, and byte for byte a document it issued; `reason` "
            "says why not (altered, unsigned, unknown_signer, not_whole_document, "
            "not_on_record)."
        ),
        request_max_body_size=LIMIT,
        status_code=200,
    )
    async def check(self, request: AnyRequest, tenant_slug: FromPath[str]) -> dict[str, Any]:
        tenant = await tenant_by_slug(request, tenant_slug)
        pdf = await request.body()
        verdict = await verification.check_pdf(request.app.state.runtime, tenant, pdf)
        return verdict.as_json()

    @get(
        "/verify/{code:str}",
        opt=public(),
        summary="The verification page a document's QR code opens (HTML)",
        include_in_schema=False,
    )
    async def page(
        self, request: AnyRequest, tenant_slug: FromPath[str], code: FromPath[str]
    ) -> Response[str]:
        tenant = await tenant_by_slug(request, tenant_slug)
        try:
            found = await verification.by_code(request.app.state.runtime, tenant, code)
        except ValidationFailed:
            return _page(request, tenant, 404, code=code)
        return _page(request, tenant, 200 if found else 404, document=found, code=code)

    @post(
        "/verify",
        opt=public(),
        summary="The verification page's form: check an uploaded PDF (HTML)",
        include_in_schema=False,
        request_max_body_size=LIMIT,
        status_code=200,
    )
    async def page_check(
        self,
        request: AnyRequest,
        tenant_slug: FromPath[str],
        data: Annotated[dict[str, UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[str]:
        tenant = await tenant_by_slug(request, tenant_slug)
        upload = data.get("file")
        if upload is None:
            raise ValidationFailed(
                "no file", errors=[FieldProblem("file", "required", "choose the PDF to check")]
            )
        pdf = await upload.read()
        verdict = await verification.check_pdf(request.app.state.runtime, tenant, pdf)
        return _page(
            request, tenant, document=verdict.document if verdict.genuine else None, verdict=verdict
        )
