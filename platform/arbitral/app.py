"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar
from litestar.openapi.config import OpenAPIConfig
from litestar.types import ASGIApp

from arbitral import __version__
from arbitral.audit.controllers import AuditController
from arbitral.auth.client_controllers import ApiClientController, KeyController
from arbitral.auth.controllers import LoginController, SessionController
from arbitral.auth.guards import authorize, check_routes
from arbitral.auth.middleware import AuthenticationMiddleware
from arbitral.auth.oauth_controllers import OAuthController, WellKnownController
from arbitral.auth.oidc_controllers import OidcLoginController
from arbitral.auth.otp_controllers import OtpController
from arbitral.auth.platform_controllers import PlatformController
from arbitral.awards.controllers import AwardController, CaseAwardsController
from arbitral.awards.public_controllers import VerificationController
from arbitral.batches.acceptance_controllers import BatchAcceptanceController
from arbitral.batches.bundle_controllers import BundleController
from arbitral.batches.controllers import BatchController
from arbitral.batches.reconciliation_controllers import BatchReconciliationController
from arbitral.cases.controllers import CaseController, DueProcessController, ExhibitController
from arbitral.custody.controllers import CustodyController
from arbitral.custody.record_controllers import CustodyRecordController
from arbitral.custody.upload_controllers import CustodyUploadController
from arbitral.db.migrate import migration_state
from arbitral.fairness.controllers import FairnessController
from arbitral.health.controllers import HealthController
from arbitral.hearings.controllers import HearingController
from arbitral.identity.controllers import (
    MeController,
    PowerOfAttorneyController,
    UserController,
)
from arbitral.jobs.worker import InProcessWorker
from arbitral.ledger.controllers import PublicLedgerController, WitnessController
from arbitral.logs import configure_logging
from arbitral.payments.controllers import (
    BatchInvoiceController,
    InvoiceController,
    PaymentNotifyController,
)
from arbitral.pleadings.controllers import AnswerController, CounterclaimController
from arbitral.runtime import build_runtime
from arbitral.service.controllers import (
    CaseDocumentsController,
    CaseServiceController,
    InboxController,
    SmsReportController,
)
from arbitral.settings import ConfigError, Settings
from arbitral.settlement.controllers import SettlementController
from arbitral.storage.controllers import storage_routes
from arbitral.tribunal.controllers import ArbitratorController, TribunalController
from arbitral.web import EXCEPTION_HANDLERS, RejectNulMiddleware, RequestContextMiddleware
from arbitral.webhooks.controllers import WebhookEndpointController

log = structlog.get_logger(__name__)

OPENAPI_PATH = "/schema"


class ArbitralApp(Litestar):
    """Litestar with the request context around everything, routing errors included.

    Route middleware would miss requests that match no route (404, 405); the
    request id, its log binding and the access log must cover those too.
    """

    def _create_asgi_handler(self) -> ASGIApp:
        return RequestContextMiddleware(RejectNulMiddleware(super()._create_asgi_handler()))


def create_app(
    settings: Settings,
    *,
    job_modules: tuple[str, ...] = (),
) -> Litestar:
    """Build the web application for ``settings``.

    Nothing connects until the app starts: the lifespan opens the runtime on
    the server's event loop, refuses to start on pending migrations, starts
    the outbox relay and, with the in-process broker, the worker threads.
    """
    configure_logging(settings.log_level, settings.log_format)
    rt = build_runtime(settings, job_modules=job_modules)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await rt.open()
        try:
            state = await migration_state(rt.db)
            if state.pending:
                raise ConfigError(
                    settings.database.variable,
                    f"{len(state.pending)} migration(s) pending; run 'arbitral migrate' first",
                )
            worker: InProcessWorker | None = None
            if settings.broker.kind == "inprocess":
                # The in-memory queue died with the last process; the outbox remembers.
                await rt.relay.recover_unfinished()
                worker = InProcessWorker(rt.broker, threads=settings.worker_threads)
                await worker.start()
            app.state.inprocess_worker = worker
            rt.start_background()
            if settings.secret_key is None and not settings.embedded:
                log.warning(
                    "app.generated_secret_key",
                    path=str(settings.data_dir / "secret_key"),
                    hint="set ARBITRAL_SECRET_KEY, the same on every web process",
                )
            log.info(
                "app.started",
                database=settings.database.display,
                storage=settings.storage.display,
                broker=settings.broker.display,
            )
            try:
                yield
            finally:
                await rt.stop_background()
                if worker is not None:
                    await worker.stop()
        finally:
            await rt.close()

    app = ArbitralApp(
        route_handlers=[
            HealthController,
            *storage_routes(),
            LoginController,
            OidcLoginController,
            OtpController,
            SessionController,
            OAuthController,
            WellKnownController,
            MeController,
            UserController,
            PowerOfAttorneyController,
            ApiClientController,
            KeyController,
            AuditController,
            CustodyController,
            CustodyRecordController,
            CustodyUploadController,
            BundleController,
            BatchController,
            CaseController,
            DueProcessController,
            ExhibitController,
            InvoiceController,
            PaymentNotifyController,
            BatchAcceptanceController,
            BatchInvoiceController,
            CaseServiceController,
            CaseDocumentsController,
            InboxController,
            SmsReportController,
            AnswerController,
            CounterclaimController,
            HearingController,
            SettlementController,
            CaseAwardsController,
            AwardController,
            VerificationController,
            ArbitratorController,
            TribunalController,
            WitnessController,
            PublicLedgerController,
            PlatformController,
            WebhookEndpointController,
            BatchReconciliationController,
            FairnessController,
        ],
        middleware=[AuthenticationMiddleware],
        guards=[authorize],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Arbitral API",
            version=__version__,
            description="Online arbitration platform: filing, custody, hearings, awards.",
            path=OPENAPI_PATH,
        ),
        debug=False,
        logging_config=None,  # arbitral.logs configures logging for every process
    )
    app.state.settings = settings
    app.state.runtime = rt
    app.state.object_store = rt.store
    app.state.tenants = rt.tenants
    app.state.inprocess_worker = None
    check_routes(app, exempt_prefixes=(OPENAPI_PATH,))
    return app
