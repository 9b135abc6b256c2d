"""Runs a LiteLLM proxy callback's async_post_call_failure_hook outside LiteLLM (loopback LiteLLM).

LiteLLM's proxy calls the hook with the request's data and the mapped exception, and when the hook
returns an HTTPException it answers the client with that status, detail and headers instead
(litellm/proxy/utils.py ProxyLogging.post_call_failure_hook; common_request_processing.py
_handle_llm_api_exception). The two imports a hook uses are stubbed with the same shapes
(fastapi.HTTPException: status_code, detail, headers; CustomLogger: a base class).

argv: MODULE_DIR CALLBACK (module.attribute); stdin: {"request_data", "status_code", "message"};
stdout: {"status_code", "detail", "headers"} or null.
"""
import asyncio
import importlib
import json
import sys
import types


class HTTPException(Exception):
    def __init__(self, status_code, detail=None, headers=None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class CustomLogger:
    pass


def stub(name, **attrs):
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod


stub("fastapi", HTTPException=HTTPException)
stub("litellm")
stub("litellm.integrations")
stub("litellm.integrations.custom_logger", CustomLogger=CustomLogger)


class MappedError(Exception):
    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def main():
    module_dir, callback = sys.argv[1], sys.argv[2]
    sys.path.insert(0, module_dir)
    mod_name, attr = callback.rsplit(".", 1)
    instance = getattr(importlib.import_module(mod_name), attr)
    inp = json.load(sys.stdin)
    exc = MappedError(inp["status_code"], inp.get("message", ""))
    out = asyncio.run(instance.async_post_call_failure_hook(inp["request_data"], exc, None))
    if isinstance(out, HTTPException):
        print(json.dumps({"status_code": out.status_code, "detail": out.detail, "headers": out.headers or {}}))
    else:
        print("null")


main()
