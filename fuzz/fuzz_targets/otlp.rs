//! OTLP trace decoding, on arbitrary bytes read as protobuf and as OTLP/JSON:
//! the span and element walkers (`otlp::budget`) never panic, accept every
//! message the real decoders accept and never under-count what those
//! decoders build (the budget is only a bound if it counts at least what
//! decoding allocates); the server's decode path (`otlp::http::decode`,
//! walker then decoder) never panics; and every decoded span goes through
//! the mapping to an event and the same preparation as a JSON event
//! (validation, canonical body) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sealtrail_server::http::otlp::budget::{self, Budget};
use sealtrail_server::http::otlp::http::{decode, Encoding};
use sealtrail_server::http::otlp::map::Origin;
use sealtrail_server::http::otlp::prepare_span;
use sealtrail_server::pipeline::decode::PrepareWith;

/// A small budget, so the refusal paths run too.
const SMALL: Budget = Budget {
    max_spans: 8,
    max_elements: 64,
};

fuzz_target!(|data: &[u8]| {
    let _ = budget::count_protobuf(data, SMALL);
    let _ = budget::count_json(data, SMALL);

    let walked = budget::count_protobuf(data, Budget::UNLIMITED);
    if let Ok(req) = ExportTraceServiceRequest::decode(data) {
        let walked = match walked {
            Ok(c) => c,
            Err(e) => panic!("prost decodes what the walker refuses: {e}"),
        };
        let built = budget::count_decoded(&req);
        assert_eq!(walked.spans, built.spans, "span count");
        assert!(walked.elements >= built.elements, "elements under-counted");
        map_all(&req);
    }

    let walked = budget::count_json(data, Budget::UNLIMITED);
    if let Ok(req) = serde_json::from_slice::<ExportTraceServiceRequest>(data) {
        let walked = match walked {
            Ok(c) => c,
            Err(e) => panic!("serde decodes what the JSON walker refuses: {e}"),
        };
        let built = budget::count_decoded(&req);
        assert!(walked.spans >= built.spans, "spans under-counted");
        assert!(walked.elements >= built.elements, "elements under-counted");
        map_all(&req);
    }

    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let _ = decode(encoding, data, SMALL);
    }
});

/// Every span as the export path maps and prepares it.
fn map_all(req: &ExportTraceServiceRequest) {
    let with = PrepareWith {
        max_event_bytes: 1 << 20,
        sensitive: None,
    };
    for rs in &req.resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        for ss in &rs.scope_spans {
            let origin = Origin {
                resource,
                scope: ss.scope.as_ref(),
            };
            for span in &ss.spans {
                let _ = prepare_span(origin, span, with, [7; 32]);
            }
        }
    }
}
