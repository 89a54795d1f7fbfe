//! Triage vignettes written for Haven: every red flag in varied wording
//! (first and third person, misspelt, lower case, texting style), plus
//! non-emergencies, negations, past events and topic questions.

use super::*;

use Disposition::{Emergency as E, Information as I, SeeDoctor as D, SelfCare as S, UrgentCare as U};

/// (message, expected disposition, expected rule for emergencies)
const VIGNETTES: &[(&str, Disposition, &str)] = &[
    // Heart attack
    ("I have crushing chest pain and my left arm feels heavy", E, "heart_attack"),
    ("my husband says his chest feels tight and he is sweating a lot", E, "heart_attack"),
    ("cheast pain for 20 min wat do i do", E, "heart_attack"),
    ("Pressure in my chest like an elephant sitting on it", E, "heart_attack"),
    ("pain going down my left arm into my jaw and im nauseous", E, "heart_attack"),
    ("I think I'm having a heart attack", E, "heart_attack"),
    // Stroke
    ("My dad's face is drooping on one side and he can't lift his arm", E, "stroke"),
    ("my wife suddenly started slurring her words", E, "stroke"),
    ("mom is confused all of a sudden and cant find her words", E, "stroke"),
    ("I suddenly lost vision in my right eye", E, "stroke"),
    ("grandpa's smile is lopsided", E, "stroke"),
    ("i think im having a stroke", E, "stroke"),
    ("my left leg went numb suddenly and I can't walk straight", E, "stroke"),
    // Breathing
    ("I can't breathe", E, "breathing"),
    ("my son is struggling to breathe and his lips look blue", E, "breathing"),
    ("asthma attack and my inhaler isn't working", E, "breathing"),
    ("she is gasping for air", E, "breathing"),
    // Anaphylaxis, severe allergic reaction
    ("My throat is swelling after eating shrimp", E, "anaphylaxis"),
    ("stung by a bee and now her tongue is swollen", E, "anaphylaxis"),
    ("broke out in hives after the penicillin and now I'm wheezing", E, "severe_allergic_reaction"),
    // Bleeding
    ("I cut my hand and the bleeding won't stop", E, "bleeding"),
    ("he's bleeding heavily from his leg", E, "bleeding"),
    ("my dad is vomiting blood", E, "bleeding"),
    // Suicide and self-harm
    ("I want to kill myself", E, "suicide_self_harm"),
    ("i dont want to be alive anymore", E, "suicide_self_harm"),
    ("I've been thinking about ending my life", E, "suicide_self_harm"),
    ("everyone would be better off without me", E, "suicide_self_harm"),
    ("i keep cutting myself", E, "suicide_self_harm"),
    ("kms", E, "suicide_self_harm"),
    ("how many pills would it take to never wake up", E, "suicide_self_harm"),
    // Overdose and poisoning
    ("I took a whole bottle of tylenol", E, "overdose_poisoning"),
    ("my toddler swallowed a laundry detergent pod", E, "overdose_poisoning"),
    ("my 3 year old got into my pills and ate some", E, "overdose_poisoning"),
    ("I think my friend overdosed, he's not responding", E, "overdose_poisoning"),
    ("our carbon monoxide alarm is going off and we all have headaches", E, "overdose_poisoning"),
    // Unresponsive
    ("My grandmother collapsed and isn't responding", E, "unresponsive"),
    ("I can't wake my husband up", E, "unresponsive"),
    ("he is unconsious", E, "unresponsive"),
    // Seizure
    ("my son is having a seizure", E, "seizure"),
    ("she's shaking all over and not responding", E, "seizure"),
    ("my daughter had a siezure for the first time", E, "seizure"),
    // Sepsis
    ("I have an infection and now I'm confused and my heart is racing", E, "sepsis"),
    ("my mom has a fever and is very confused, her skin looks mottled", E, "sepsis"),
    // Abdominal
    ("severe stomach pain and my belly is hard as a board", E, "abdominal_emergency"),
    ("worst abdominal pain ever and I keep vomiting", E, "abdominal_emergency"),
    // Pregnancy
    ("I'm 30 weeks pregnant and bleeding heavily", E, "pregnancy_emergency"),
    ("pregnant with a terrible headache and blurry vision", E, "pregnancy_emergency"),
    ("I'm 34 weeks pregnant and the baby stopped moving", E, "pregnancy_emergency"),
    // Infant fever
    ("My 6 week old baby has a temperature of 100.8", E, "infant_fever"),
    ("newborn feels hot, temp 38.2 c", E, "infant_fever"),
    ("my 2 month old has a fever", E, "infant_fever"),
    // Baby emergency
    ("my baby is floppy and hard to wake", E, "baby_emergency"),
    // Burns
    ("my son pulled boiling water on himself and has a large burn on his chest", E, "severe_burn"),
    ("got an electrical burn from a wire", E, "severe_burn"),
    // Head injury
    ("my daughter fell off her bike and hit her head, now she's throwing up and confused", E, "head_injury"),
    ("hit my head on a shelf and passed out for a minute", E, "head_injury"),
    // Thunderclap headache
    ("worst headache of my life came on suddenly", E, "thunderclap_headache"),
    ("sudden severe headache like being hit with a bat", E, "thunderclap_headache"),
    // Testicular torsion
    ("my 14 yo son has sudden severe pain in his testicle", E, "testicular_torsion"),
    // Diabetic emergencies
    ("my blood sugar is 42 and I feel shaky and confused", E, "diabetic_emergency"),
    ("dad is diabetic and acting drunk, won't make sense", E, "diabetic_emergency"),
    ("my glucose meter says 520", E, "diabetic_emergency"),
    // Meningitis
    ("stiff neck and a high fever and a rash", E, "meningitis"),
    ("my son has a rash that doesn't fade when I press a glass on it", E, "meningitis"),
    // Eye
    ("I splashed bleach in my eye", E, "eye_emergency"),
    // Choking, drowning
    ("my son was pulled from the pool and isn't breathing", E, "choking_drowning"),
    ("my toddler has food stuck in her throat and is coughing weakly", E, "choking_drowning"),
    // Danger to others
    ("my boyfriend is choking me and threatening to kill me", E, "danger_to_others"),
    // Over-triage: negation in one clause does not hide another
    ("no chest pain but I can't breathe", E, "breathing"),
    ("I had a stroke 5 years ago and now my face is drooping again", E, "stroke"),
    ("I don't know if it's serious but my chest hurts", E, "heart_attack"),
    // Urgent care today
    ("I've been short of breath when I walk for a few days", U, ""),
    ("fever of 103 since yesterday", U, ""),
    ("I think I broke my wrist", U, ""),
    ("vomiting all day and can't keep water down", U, ""),
    ("burning when I pee and now I have a fever and back pain", U, ""),
    ("I fainted in the shower this morning but I'm ok now", U, ""),
    ("my calf is swollen and red and it hurts", U, ""),
    ("my blood sugar was 320 this afternoon", U, ""),
    // See a doctor
    ("I've had a cough for three weeks", D, ""),
    ("found a new lump in my breast", D, ""),
    ("my knee hurts when I climb stairs", D, ""),
    ("I have a rash on my arm that itches", D, ""),
    // Self-care
    ("I have a runny nose and I'm sneezing", S, ""),
    ("small paper cut on my finger", S, ""),
    ("mild headache after a long day at work", S, ""),
    // Negated, past and topic: no emergency
    ("no chest pain, no shortness of breath, just a stuffy nose", S, ""),
    ("My chest pain went away last year", I, ""),
    ("What are the signs of a stroke?", I, ""),
    ("what are the symptoms of a heart attack in women", I, ""),
    ("How is sepsis treated?", I, ""),
    ("Can stress cause chest pain?", I, ""),
    ("What should be in a first aid kit?", I, ""),
    ("When is my next appointment?", I, ""),
    ("my father died of a heart attack, what's my risk?", I, ""),
    ("I denied any chest pain at my checkup", I, ""),
    ("What are the warning signs of suicide?", E, "suicide_self_harm"),
    ("Do you have information about stroke rehabilitation?", I, ""),
    ("Can you explain what causes chest pain in teenagers?", I, ""),
    ("do you think this is a stroke? my face feels numb on one side", E, "stroke"),
];

#[test]
fn vignettes_match_their_disposition_with_no_missed_emergency() {
    assert!(VIGNETTES.len() >= 60);
    let mut missed = Vec::new();
    let mut wrong = Vec::new();
    for &(text, expected, rule) in VIGNETTES {
        let a = assess(text);
        if expected == E && a.disposition != E {
            missed.push(format!("MISSED {text:?}: {:?} ({})", a.disposition, a.reason));
        } else if a.disposition != expected {
            wrong.push(format!("{text:?}: expected {expected:?}, got {:?} {:?}", a.disposition, a.rules));
        } else if expected == E {
            let e = a.escalation.as_ref().unwrap();
            if e.rule != rule && !a.rules.iter().any(|r| r == rule) {
                wrong.push(format!("{text:?}: expected rule {rule}, got {:?}", a.rules));
            }
        }
    }
    let emergencies = VIGNETTES.iter().filter(|v| v.1 == E).count();
    println!(
        "{} vignettes, {} emergencies: {} missed, {} other mismatches",
        VIGNETTES.len(),
        emergencies,
        missed.len(),
        wrong.len()
    );
    for m in missed.iter().chain(&wrong) {
        println!("{m}");
    }
    assert!(missed.is_empty(), "missed emergencies");
    assert!(wrong.is_empty(), "dispositions differ");
}

#[test]
fn every_emergency_rule_has_a_vignette() {
    let t = embedded().unwrap();
    for r in &t.rules {
        if r.level == Level::Emergency {
            assert!(VIGNETTES.iter().any(|v| v.2 == r.id), "no vignette for {}", r.id);
        }
    }
}

#[test]
fn escalations_carry_advice_and_source() {
    let e = check("I want to kill myself").unwrap();
    assert_eq!(e.level, Level::Emergency);
    assert!(e.advice.contains("988"));
    assert!(e.advice.contains("911"));
    assert!(e.source.url.starts_with("https://"));
    let e = check("my toddler drank some bleach").unwrap();
    assert!(e.advice.contains("1-800-222-1222"));
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["level"], "emergency");
    assert_eq!(json["rule"], "overdose_poisoning");
    assert!(check("what time is it?").is_none());
}

#[test]
fn the_check_never_quotes_the_message() {
    let a = assess("Maria Lopez has crushing chest pain");
    let c = a.check();
    assert_eq!(c.verdict, Verdict::Block);
    assert!(!c.reason.to_lowercase().contains("maria"));
    assert!(!serde_json::to_string(&a).unwrap().to_lowercase().contains("maria"));
    assert_eq!(assess("").disposition, Disposition::Information);
}

#[test]
fn every_source_is_named() {
    let t = embedded().unwrap();
    assert!(t.rules.len() >= 30);
    for r in &t.rules {
        assert!(!r.source.name.is_empty() && r.source.url.starts_with("https://"), "{}", r.id);
    }
}
