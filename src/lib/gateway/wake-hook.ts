/**
 * The gateway's half of scale from zero: a request the KEDA HTTP add-on's interceptor held for a
 * model at zero replicas, and which ran past the hold, reaches the client as 503 + Retry-After.
 *
 * Why here: past the hold the interceptor answers 504 "Gateway Timeout" (http-add-on v0.14+,
 * interceptor/middleware/endpoint_resolver.go; 502 before v0.14), with no Retry-After. LiteLLM maps an
 * upstream 504 to `litellm.Timeout` (litellm_core_utils/exception_mapping_utils.py, status kept as
 * 504) and does not forward an upstream Retry-After as such on errors (only prefixed
 * `llm_provider-*`, response_headers.py; BerriAI/litellm#21553). LiteLLM's proxy lets a callback's
 * `async_post_call_failure_hook` return an HTTPException that replaces the error sent to the client,
 * headers included (BerriAI/litellm#18348; common_request_processing.py _handle_llm_api_exception
 * raises ProxyException(code=e.status_code, headers=e.headers)). This module is that callback:
 * it runs in LiteLLM (Python), loaded from the ConfigMap next to config.yaml
 * (`litellm_settings.callbacks: aip_wake.proxy_handler_instance`).
 *
 * It acts only on deployments aip registered through the interceptor (`model_info.aip_wake`), and
 * only on 502/504 (the interceptor's timeout answers); Retry-After is the deployment's
 * `model_info.aip_retry_after_seconds` (from the hold derivation, deploy/hold.ts).
 *
 * Limits: LiteLLM's router retries a failed call `num_retries` times (1 in litellm.ts's config), and
 * each retry is held again, so a client waits up to (num_retries + 1) x hold before the 503. The
 * hook's read of `model_info` from the request's metadata follows the router's
 * `_update_kwargs_with_deployment`; when absent the default Retry-After (30 s) is sent.
 */
export const WAKE_HOOK_MODULE = 'aip_wake'
export const WAKE_HOOK_FILE = `${WAKE_HOOK_MODULE}.py`
export const WAKE_HOOK_CALLBACK = `${WAKE_HOOK_MODULE}.proxy_handler_instance`
export const DEFAULT_RETRY_AFTER_SECONDS = 30

export const WAKE_HOOK_SOURCE = `"""aip: scale from zero, the gateway's half (written by \`aip gateway install\`; do not edit).

A request the KEDA HTTP add-on's interceptor held for a model at zero replicas, and which ran past
the hold, comes back from the interceptor as 504 (502 before http-add-on v0.14). This callback turns
that into 503 with Retry-After for deployments aip registered through the interceptor.
"""
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

DEFAULT_RETRY_AFTER = ${DEFAULT_RETRY_AFTER_SECONDS}
HOLD_TIMEOUT_STATUSES = (502, 504)


def _model_info(request_data):
    for key in ("metadata", "litellm_metadata"):
        md = request_data.get(key) or {}
        info = md.get("model_info") if isinstance(md, dict) else None
        if isinstance(info, dict):
            return info
    return {}


def _status(exc):
    for attr in ("status_code", "exception_status_code"):
        v = getattr(exc, attr, None)
        if isinstance(v, int):
            return v
    return None


class AipWake(CustomLogger):
    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict, traceback_str=None):
        info = _model_info(request_data or {})
        if not info.get("aip_wake") or _status(original_exception) not in HOLD_TIMEOUT_STATUSES:
            return None
        try:
            retry_after = max(1, int(info.get("aip_retry_after_seconds") or DEFAULT_RETRY_AFTER))
        except (TypeError, ValueError):
            retry_after = DEFAULT_RETRY_AFTER
        model = request_data.get("model", "")
        return HTTPException(
            status_code=503,
            detail=f"model {model} is starting from zero replicas and was not ready within its hold of {info.get('aip_hold_seconds', '?')}s; retry after {retry_after}s",
            headers={"Retry-After": str(retry_after)},
        )


proxy_handler_instance = AipWake()
`
