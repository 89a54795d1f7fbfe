//! Arbitrary bytes through the whole FHIR boundary, in the server's order:
//! pre-parse limits, serde_json, validation, then every typed view. None of
//! it may panic.

#![no_main]

use haven_fhir::limits::{self, JsonLimits};
use haven_fhir::model::{AppointmentInfo, CareTeamInfo, ConsentInfo, PatientDemographics, SlotInfo};
use haven_fhir::validate::{self, Options};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if limits::check(data, &JsonLimits::default()).is_err() {
        return;
    }
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(data) else { return };
    for allow in [false, true] {
        let _ = validate::validate(&obj, &Options { allow_conditional_references: allow });
    }
    let _ = PatientDemographics::from_json(&obj);
    let _ = AppointmentInfo::from_json(&obj);
    let _ = SlotInfo::from_json(&obj);
    let _ = ConsentInfo::from_json(&obj);
    let _ = CareTeamInfo::from_json(&obj);
});
