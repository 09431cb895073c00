//! The route table of the public port: which path answers to which method, and which flow
//! serves it. The one place a new public endpoint is added; the flows it calls live in their
//! own files.

use super::ShardHandler;
use crate::http::{Endpoint, Handler, Method, Request, Response};
use crate::tracking::EventKind;

impl Handler for ShardHandler {
    async fn handle(&self, request: Request<'_>, response: &mut Response) {
        let (endpoint, allowed) = match request.path {
            "/openrtb2/auction" => (Endpoint::Auction, Method::Post),
            "/win" => (Endpoint::Win, Method::Get),
            "/imp" => (Endpoint::Impression, Method::Get),
            "/click" => (Endpoint::Click, Method::Get),
            "/loss" => (Endpoint::Loss, Method::Get),
            "/healthz" => (Endpoint::Healthz, Method::Get),
            "/readyz" => (Endpoint::Readyz, Method::Get),
            _ => {
                response.set_error(Endpoint::Other, 404, "no such endpoint", "path");
                return;
            }
        };
        // HEAD is fine for health checks, but a HEAD on a tracking URL (a link prefetcher, a
        // crawler) must not count as an event.
        let tracking = matches!(
            endpoint,
            Endpoint::Win | Endpoint::Impression | Endpoint::Click | Endpoint::Loss
        );
        let method_ok = request.method == allowed
            || (allowed == Method::Get && request.method == Method::Head && !tracking);
        if !method_ok {
            let allow = match allowed {
                Method::Post => "POST",
                _ if tracking => "GET",
                _ => "GET, HEAD",
            };
            response.set_method_not_allowed(endpoint, allow);
            return;
        }
        match endpoint {
            Endpoint::Auction => self.auction(request, response).await,
            Endpoint::Win => self.tracking(EventKind::Win, request, response).await,
            Endpoint::Impression => {
                self.tracking(EventKind::Impression, request, response)
                    .await
            }
            Endpoint::Click => self.tracking(EventKind::Click, request, response).await,
            Endpoint::Loss => self.tracking(EventKind::Loss, request, response).await,
            Endpoint::Healthz => response.set_text(endpoint, 200, "ok\n"),
            Endpoint::Readyz if self.context.draining.get() => {
                response.set_text(endpoint, 503, "draining\n")
            }
            Endpoint::Readyz => response.set_text(endpoint, 200, "ready\n"),
            _ => response.set_error(Endpoint::Other, 404, "no such endpoint", "path"),
        }
    }
}
