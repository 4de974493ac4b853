"""HTTP(S) endpoints: one listener per simulated host, on its own loopback address."""
from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from .dispatch import dispatch, resolve
from .wire import WireError, jsonrpc_response, parse_jsonrpc, parse_xmlrpc, xmlrpc_response
from .world import Machine, World

_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "X-Requested-With"}
_BAD_REQUEST = "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again.</body></html>"


class Listener:
    """A host's API endpoint.  `stop` refuses new connections and drops open ones, as a
    restarting xapi does; `start` listens again on the same address and port."""

    def __init__(self, world: World, machine: Machine, port: int, ssl_context: ssl.SSLContext | None):
        self.world, self.machine, self.port, self.ssl = world, machine, port, ssl_context
        self._runner: web.AppRunner | None = None
        machine.listener = self

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._xmlrpc)
        app.router.add_post("/RPC2", self._xmlrpc)
        app.router.add_post("/jsonrpc", self._jsonrpc)
        # /json is a legacy name: xapi's handler for it parses and answers XML-RPC
        # (Api_server.callback true, in 1.249 and HEAD alike)
        app.router.add_post("/json", self._xmlrpc)
        for path in ("/", "/RPC2", "/jsonrpc", "/json"):
            app.router.add_route("OPTIONS", path, self._options)   # browsers' CORS preflight
        return app

    async def start(self) -> int:
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.machine.address, self.port, ssl_context=self.ssl,
                           reuse_address=True, backlog=256)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]
        self.machine.api_up = True
        return self.port

    async def stop(self) -> None:
        self.machine.api_up = False
        self.machine.local_sessions.clear()   # xapi's in-memory local sessions end with it
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{self.machine.address}:{self.port}/"

    async def _call(self, request: web.Request, method: str, args: list, encode):
        _, message, _ = resolve(method)
        wire_name = message.wire_name if message else method
        drop = self.world.faults.drop_connection(self.machine, wire_name)
        if drop == "before":
            self._drop(request)
        body = await dispatch(self.world, self.machine, method, args, encode)
        if drop == "after":
            self._drop(request)   # the call ran (and is in the call log); its answer is lost
        return body

    @staticmethod
    def _drop(request: web.Request) -> None:
        """Closes the connection without an answer; aiohttp then abandons the handler."""
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError

    async def _options(self, request: web.Request) -> web.Response:
        return web.Response(status=200, headers={**_CORS, "Allow": "OPTIONS, POST"})

    async def _xmlrpc(self, request: web.Request) -> web.Response:
        try:
            method, args = parse_xmlrpc(await request.read())
        except WireError:
            return web.Response(status=500, text=_BAD_REQUEST, content_type="text/html", headers=_CORS)
        body = await self._call(request, method, args, xmlrpc_response)
        return web.Response(body=body, content_type="text/xml", headers=_CORS)

    async def _jsonrpc(self, request: web.Request) -> web.Response:
        try:
            method, args, req_id, v2 = parse_jsonrpc(await request.read())
        except WireError:
            return web.Response(status=500, text=_BAD_REQUEST, content_type="text/html", headers=_CORS)
        body = await self._call(request, method, args, lambda value, error: jsonrpc_response(req_id, v2, value, error))
        return web.Response(body=body, content_type="application/json", headers=_CORS)
