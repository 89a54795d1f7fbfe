//! The phrase rules of the injection check: each a regular expression over
//! normalised text that fires one [`Signal`] with a fixed strength.
//!
//! Strengths are chosen so that one unambiguous attack phrase blocks on its
//! own (≥ 0.85), a suggestive one flags (0.5–0.85), and a weak hint (role
//! play, an obfuscation trick) only adds to other evidence (< 0.5).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::InputKind;

/// A named reason the injection check fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The linear model alone scored the text at or above the flag threshold.
    Model,
    /// "Ignore all previous instructions" and its kin.
    InstructionOverride,
    /// New rules or a new task for the assistant ("from now on you will...").
    NewInstructions,
    /// Asks for the system prompt or hidden instructions.
    PromptExtraction,
    /// A known jailbreak persona or mode (DAN, developer mode, "unfiltered AI").
    PersonaJailbreak,
    /// Asks the assistant to drop its rules, filters or ethics.
    RestrictionRemoval,
    /// A role-play or hypothetical framing (weak on its own).
    RolePlay,
    /// Fake system or assistant delimiters (`<|im_start|>`, `[INST]`, `### System:`).
    FakeDelimiter,
    /// Asks for other patients' records, bulk data or a database dump.
    DataExfiltration,
    /// Asks to bypass access control, audit, consent or safety filters.
    SecurityBypass,
    /// Claims a privileged identity or mode ("I am the developer", "admin mode").
    PrivilegeClaim,
    /// Asks how to make weapons, explosives, toxins or illicit drugs.
    HarmfulSynthesis,
    /// Asks how to kill or hurt another person.
    Violence,
    /// Asks for a method of self-harm or suicide.
    SelfHarmMethod,
    /// Asks for a lethal amount of something (flag, not block: often a safety question).
    LethalDose,
    /// Demeans or excludes a group of people.
    Discrimination,
    /// Asks how to commit a crime (fraud, theft, stalking, drugging someone).
    Crime,
    /// Asks for a third party's private details (address, salary, health, orientation).
    PrivacyProbe,
    /// Instructions addressed to the assistant inside a passage or tool result.
    IndirectInstruction,
    /// Zero-width or other invisible characters.
    InvisibleCharacters,
    /// Unicode tag characters carrying hidden text.
    TagCharacters,
    /// Look-alike letters from other scripts inside Latin words.
    Homoglyphs,
    /// Letters spaced or dotted apart.
    SpacedLetters,
    /// Leetspeak spelling of a sensitive word.
    Leetspeak,
    /// A base64, hex or percent-encoded payload.
    EncodedPayload,
    /// A strong attack phrase in ROT13.
    Rot13,
    /// A strong attack phrase written backwards.
    ReversedText,
}

impl Signal {
    /// The signal's name as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Model => "model",
            Signal::InstructionOverride => "instruction_override",
            Signal::NewInstructions => "new_instructions",
            Signal::PromptExtraction => "prompt_extraction",
            Signal::PersonaJailbreak => "persona_jailbreak",
            Signal::RestrictionRemoval => "restriction_removal",
            Signal::RolePlay => "role_play",
            Signal::FakeDelimiter => "fake_delimiter",
            Signal::DataExfiltration => "data_exfiltration",
            Signal::SecurityBypass => "security_bypass",
            Signal::PrivilegeClaim => "privilege_claim",
            Signal::HarmfulSynthesis => "harmful_synthesis",
            Signal::Violence => "violence",
            Signal::SelfHarmMethod => "self_harm_method",
            Signal::LethalDose => "lethal_dose",
            Signal::Discrimination => "discrimination",
            Signal::Crime => "crime",
            Signal::PrivacyProbe => "privacy_probe",
            Signal::IndirectInstruction => "indirect_instruction",
            Signal::InvisibleCharacters => "invisible_characters",
            Signal::TagCharacters => "tag_characters",
            Signal::Homoglyphs => "homoglyphs",
            Signal::SpacedLetters => "spaced_letters",
            Signal::Leetspeak => "leetspeak",
            Signal::EncodedPayload => "encoded_payload",
            Signal::Rot13 => "rot13",
            Signal::ReversedText => "reversed_text",
        }
    }

    /// How strongly the signal alone suggests an attack, in this kind of input.
    pub fn strength(self, kind: InputKind) -> f32 {
        let passage = kind != InputKind::UserMessage;
        match self {
            Signal::Model => 0.0,
            Signal::InstructionOverride | Signal::PromptExtraction | Signal::PersonaJailbreak => 0.9,
            Signal::HarmfulSynthesis | Signal::SelfHarmMethod => 0.9,
            Signal::DataExfiltration | Signal::SecurityBypass | Signal::Violence | Signal::Crime => 0.87,
            Signal::TagCharacters | Signal::Rot13 | Signal::ReversedText => 0.85,
            Signal::FakeDelimiter => 0.7,
            Signal::RestrictionRemoval | Signal::LethalDose | Signal::Discrimination | Signal::PrivacyProbe => 0.6,
            // Health texts address "you" all the time; only a passage talking
            // to the assistant is a concern.
            Signal::IndirectInstruction => {
                if passage {
                    0.7
                } else {
                    0.25
                }
            }
            Signal::NewInstructions => 0.45,
            Signal::PrivilegeClaim => 0.4,
            Signal::EncodedPayload => 0.35,
            Signal::Homoglyphs | Signal::Leetspeak => 0.35,
            Signal::RolePlay | Signal::SpacedLetters => 0.3,
            Signal::InvisibleCharacters => 0.2,
        }
    }
}

struct Rule {
    signal: Signal,
    re: Regex,
    /// The rule does not fire when this also matches the text.
    unless: Option<Regex>,
    /// Weakened to flag strength when the text speaks of a clinician or a label
    /// ("should I ignore my doctor's previous instructions?").
    damp_in_clinical_context: bool,
    /// Among the rules tried on ROT13 and reversed readings.
    strong: bool,
}

/// Compiles a pattern written with plain spaces (any whitespace run matches)
/// and `\b` (ASCII word boundary, which keeps the fast engines usable).
fn compile(pattern: &str) -> Option<Regex> {
    let p = pattern.replace(' ', r"\s+").replace(r"\b", r"(?-u:\b)");
    Regex::new(&p).ok()
}

const ASK: &str = r"(?:show|give|send|list|export|dump|download|print|display|tell|get|pull|access|look up|find|retrieve|share|provide|reveal|fetch|email|read|open|see|view|check|what (?:is|are|was|were)|i (?:need|want)|let me (?:see|have))";
const PEOPLE: &str =
    r"(?:patients?|users?|members|people|customers|clients|persons?|individuals|residents|employees|staff)";
const PERSONAL_DATA: &str = r"(?:records?|data|files?|charts?|information|info|details|addresses|ssns?|social security(?: numbers?)?|diagnos[ie]s|histor(?:y|ies)|phone numbers?|emails?|e-mails?|prescriptions|medications|results|names|dobs?|dates? of birth|phi|contacts?|notes|lab results|test results|insurance|hiv status|diagnosis codes)";
const THIRD_PARTY: &str = r"(?:neighbou?r|coworker|co-worker|colleague|ex|ex-wife|ex-husband|ex-girlfriend|ex-boyfriend|boss|employee|tenant|roommate|classmate|landlord|a celebrity|celebrity|someone else|somebody else|another person|another patient|other patients?|stranger|senator|politician|actor|actress|singer)";
/// Violence in a game, a sport or a story about one is not violence.
const GAME_CONTEXT: &str = r"\b(?:game|games|video ?games?|board games?|checkers|chess|cards|poker|witcher|minecraft|fortnite|gta|skyrim|call of duty|zelda|pokemon|dnd|d&d|dungeons|tennis|basketball|football|soccer|arm wrestling|an argument|a debate|a race|at scrabble)\b";
/// Groups of people: adjectives only with a noun after them ("white clouds" is no group).
const GROUP: &str = r"(?:(?:black|white|asian|jewish|muslim|christian|catholic|hindu|sikh|buddhist|gay|lesbian|bisexual|trans|transgender|queer|disabled|deaf|blind|autistic|elderly|old|young|poor|homeless|fat|obese|mentally ill|immigrant|foreign|mexican|chinese|indian|arab|african|latino|latina|hispanic|native|indigenous|romani|irish|russian|jewish|atheist|single|divorced|pregnant|unmarried) (?:people|persons|folks|individuals|men|women|kids|children|students|workers|employees|voters|citizens|americans|families|mothers|fathers|patients|immigrants)|jews|muslims|christians|catholics|hindus|sikhs|buddhists|atheists|gays|lesbians|homosexuals|immigrants|refugees|migrants|foreigners|mexicans|arabs|africans|latinos|latinas|hispanics|asians|women|men|girls|boys|the elderly|the disabled|the poor|old people|elderly people|disabled people|gypsies|roma|native americans|indigenous people|transgender people|trans people|black people|white people)";
const CLINICAL_CONTEXT: &str = r"\b(?:doctor|dr|doc|nurse|pharmacist|physician|provider|label|prescription|prescribed|package insert|dentist|surgeon|clinic|hospital|therapist|midwife|specialist|discharge|gp|vet|cardiologist|oncologist)\b";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let people_data_request = format!(
        r"\b{ASK}\b[^.!?\n]{{0,40}}?\b(?:all|every|other|another|others'|someone else's|somebody else's|other people's|the entire|the whole|the full|complete|a list of|list of|list all|list every|each|any)\b[^.!?\n]{{0,25}}?\b{PEOPLE}(?:'s?|s')?\b[^.!?\n]{{0,40}}?\b{PERSONAL_DATA}\b"
    );
    let third_party = format!(
        r"\b{ASK}\b[^.!?\n]{{0,40}}?\b(?:{THIRD_PARTY}(?:'s)?|(?:of|for|belonging to|about) (?:my |our |the )?{THIRD_PARTY})\b[^.!?\n]{{0,30}}?\b{PERSONAL_DATA}\b|\b{ASK}\b[^.!?\n]{{0,40}}?\b{PERSONAL_DATA}\b[^.!?\n]{{0,20}}?\b(?:of|for|belonging to|about) (?:my |our |the |a |an )?{THIRD_PARTY}\b"
    );
    let spec: Vec<(Signal, String, Option<&str>, bool, bool)> = vec![
        (
            Signal::InstructionOverride,
            r"\b(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|bypass|neglect|discard|abandon|dismiss|set aside|throw out|stop following|do not follow|don't follow|no longer follow|not bound by|free yourself from|break free (?:of|from)|break out of|pay no attention to|do not obey|don't obey|stop obeying)\b[^.!?\n]{0,30}?\b(?:previous|prior|above|earlier|preceding|all|any|your|initial|original|system|safety|these|those|every|old|existing|current|default|built-in|openai's|programmed)\b[^.!?\n]{0,25}?\b(?:instructions?|rules|prompts?|directions|directives|guidelines|commands|programming|constraints|restrictions|polic(?:y|ies)|guardrails|filters|training|context|limitations|safeguards|ethics|ethical guidelines|orders|settings|content polic(?:y|ies))\b".to_owned(),
            None,
            true,
            true,
        ),
        (
            Signal::InstructionOverride,
            r"\bforget (?:everything|all)(?: that)? (?:you|you've|you have|i|we)\b[^.!?\n]{0,20}?\b(?:told|said|learned|know|were|was|been|discussed)\b|\b(?:ignore|disregard) (?:everything|all|anything) (?:above|before|prior|previously|said|written)\b|\bignore (?:the|your|all) (?:above|previous|prior)\b|\b(?:ignoriere|ignorier|vergiss|missachte|ignora|ignore|olvida|olvide|ignorez|oublie|oubliez|dimentica|esqueca)\b[^.!?\n]{0,40}?\b(?:anweisungen|instruktionen|befehle|regeln|vorgaben|instrucciones|reglas|indicaciones|consignes|regles|instructions precedentes|istruzioni|regole|instrucoes|regras)\b".to_owned(),
            None,
            true,
            true,
        ),
        (
            Signal::PromptExtraction,
            r"\b(?:reveal|show|print|repeat|display|output|tell me|give me|share|leak|dump|expose|recite|write out|spell out|list|paste|copy|return|echo|translate|summari[sz]e|what (?:is|are|was|were)|what's)\b[^.!?\n]{0,40}?\b(?:your|the|its|my)? ?(?:system|initial|original|hidden|secret|internal|developer|pre-?|first|starting|base|confidential|full|exact|complete|underlying|operating|custom)[ -]?(?:prompt|instructions|message|rules|directives|configuration|guidelines|preamble|context)\b".to_owned(),
            None,
            false,
            true,
        ),
        (
            Signal::PromptExtraction,
            r"\b(?:repeat|print|output|return|reproduce|write|say|show)\b[^.!?\n]{0,30}?\b(?:words|text|everything|all|lines?|message)\b[^.!?\n]{0,20}?\b(?:above|before this|preceding|prior to this|at the (?:start|beginning))\b|\b(?:what|which) (?:were|are) you (?:told|instructed|programmed|trained|prompted)\b|\b(?:instructions|rules|prompt) (?:you were|you've been|you have been|you are) (?:given|told|programmed)\b|\byour (?:system )?prompt\b|\bbeginning of (?:this|the|your) (?:conversation|prompt|context)\b".to_owned(),
            None,
            false,
            true,
        ),
        (
            Signal::PersonaJailbreak,
            r"\bdo anything now\b|\bdan (?:mode|prompt|jailbreak|\d+)\b|\b(?:you are|you're|act as|become|called|named|play|roleplay as|pretend to be|you will be|you'll be|as) (?:now )?(?:a |an |the )?(?:dan|stan|dude|mongo tom|evilbot|evil bot|antigpt|anti-gpt|betterdan|better dan|kevin|aim|ucar|apophis|omega|alphabreak|nsfw gpt|chaosgpt|wormgpt|dev mode)\b|\[?(?:dan|jailbreak|jailbroken|🔓)\]?:|\bdeveloper mode\b|\bjailbr(?:ea|o)k(?:en|ing|s)?\b|\bgod ?mode\b|\b(?:evil|unfiltered|uncensored|unrestricted|unaligned|amoral|unethical|rogue|immoral|lawless|unchained|unbound|unlimited|free|liberated|nsfw) (?:ai|a\.i\.|assistant|chatbot|bot|version|mode|model|persona|character|confidant|entity|gpt)\b|\bstay in character\b|\bbreak(?:ing)? character\b|\bopposite mode\b|\b(?:chatgpt|gpt-?[345]|openai|bard|claude|llama|gemini|ai language model)\b[^.!?\n]{0,60}?\b(?:polic(?:y|ies)|restrictions|rules|filters|guidelines|censor(?:ship|ed)?|limitations|refuse)\b".to_owned(),
            None,
            false,
            true,
        ),
        (
            Signal::RestrictionRemoval,
            r"\b(?:no|without|free (?:of|from)|unbound by|not bound by|beyond|ignoring|regardless of|doesn't (?:have|care about|follow|abide by)|does not (?:have|care about|follow|abide by)|don't (?:have|care about|follow)|never (?:follows?|cares? about)|unrestricted by|not limited by|not restricted by|disable|remove|turn off)\b (?:any )?(?:ethical |moral |content |safety |legal )?(?:restrictions|limits|limitations|filters?|rules|guidelines|ethics|morals|morality|censorship|boundaries|constraints|policies|warnings|disclaimers|safeguards|guardrails)\b|\b(?:never|not|cannot|can't|won't|will not|must not|mustn't) (?:refuse|decline|say no|say that you can't|apologi[sz]e)\b|\bmust (?:always )?(?:answer|comply|respond|obey)\b|\balways (?:comply|obey|answer (?:every|any|all))\b|\b(?:illegal|unethical|immoral|harmful|offensive|explicit) (?:content|requests|questions|things|activities)\b[^.!?\n]{0,30}?\b(?:allowed|fine|okay|ok|permitted|acceptable)\b".to_owned(),
            None,
            false,
            false,
        ),
        (
            Signal::RolePlay,
            r"\b(?:pretend|imagine you(?:'re| are)|act as|acting as|role-?play|play (?:the role|a role|a game|a character)|you are (?:going to|about to) (?:act|pretend|be|play)|simulate|simulation|hypothetical(?:ly)?|in (?:a|this) (?:fictional|hypothetical|imaginary|alternate|parallel) (?:world|story|universe|scenario|setting|reality)|from now on,? you(?:'re| are| will)|let's play|for (?:a|my) (?:novel|story|screenplay|movie|book|fiction|script)|you are (?:no longer|not) (?:an? )?(?:ai|assistant|chatbot|language model)|character named|respond as)\b".to_owned(),
            None,
            false,
            false,
        ),
        (
            Signal::NewInstructions,
            r"\b(?:new|updated|real|actual|true|secret|hidden|override|overriding|priority|important) (?:instructions?|rules|task|directive|system prompt|orders|guidelines|objective|mission)\b|\bfrom now on\b|\bfrom this (?:point|moment) (?:on|forward)\b|\byou (?:will|must|shall) (?:now|henceforth|always|only)\b|\binstead,? (?:you (?:will|must|should)|respond|answer|reply|say|output)\b|\bnew (?:persona|identity|role|personality)\b|\bbegin(?:ning)? (?:of )?(?:new|admin|system|developer) (?:session|prompt|mode|instructions)\b|\byour (?:new|only|real|true) (?:task|goal|purpose|job|role)\b".to_owned(),
            None,
            true,
            false,
        ),
        (
            Signal::FakeDelimiter,
            r"<\|?(?:system|im_start|im_end|endoftext|assistant|user|eot_id|start_header_id)\|?>|\[/?(?:system|inst|sys|admin)\]|<</?sys>>|(?:^|\n)\s*#{2,}\s*(?:system|instructions?|new instructions?|admin|developer)\b|(?:^|\n)\s*(?:system|assistant|developer|admin)\s*(?:message|prompt|note)?\s*:|</?(?:system|instructions?|admin|system_prompt|sys)>|-{3,}\s*(?:end|begin) (?:of )?(?:system|user|document|context|prompt|conversation)\b|\b(?:end|begin) of (?:system prompt|user input|document)\b".to_owned(),
            None,
            false,
            false,
        ),
        (Signal::DataExfiltration, people_data_request, None, false, true),
        (Signal::DataExfiltration, third_party, Some(r"\b(?:my|our) (?:own|child's|son's|daughter's|baby's|mother's|father's|mom's|dad's|wife's|husband's|partner's)\b|\bmy (?:records?|chart|results|data|information|history|prescriptions|medications|notes|file)\b"), false, false),
        (
            Signal::DataExfiltration,
            r"\b(?:dump|export|exfiltrate|extract|download|copy|scrape|leak|steal|clone|mirror)\b[^.!?\n]{0,20}?\b(?:the |your |this )?(?:entire |whole |full |complete )?(?:database|db|tables?|patient list|patient database|user list|user database|records? table|emr|ehr|fhir (?:store|server)|audit log|record store|patient records|all records)\b|\b(?:select \* from|drop table|union select|insert into|delete from)\b|\b(?:ssns?|social security numbers?|credit card numbers?|passwords?|api keys?|access tokens?|credentials|private keys?|secrets)\b[^.!?\n]{0,20}?\b(?:of|for|from) (?:all|every|other|the|each)\b".to_owned(),
            None,
            false,
            true,
        ),
        (
            Signal::SecurityBypass,
            r"\b(?:bypass|disable|turn off|switch off|circumvent|get around|work around|evade|skip|deactivate|override|break|defeat|sidestep|avoid|trick|fool)\b[^.!?\n]{0,25}?\b(?:access controls?|authori[sz]ation|audit(?:ing| logs?| trail)?|consent (?:checks?|rules|requirements?)|safety (?:filters?|checks?|features?|protocols?|layers?|mechanisms?|systems?|rules)|content (?:filters?|polic(?:y|ies)|moderation)|guardrails|safeguards|moderation|censorship|filters?|the filter|hipaa|privacy (?:rules|protections?|controls?)|role checks?|permission checks?)\b|\b(?:hack|hacking|crack|brute[- ]?force|steal|phish|break into)\b[^.!?\n]{0,25}?\b(?:passwords?|accounts?|logins?|credentials|emr|ehr|systems?|database|hospital|server|network|portal)\b".to_owned(),
            None,
            true,
            true,
        ),
        (
            Signal::PrivilegeClaim,
            r"\b(?:i am|i'm|this is|speaking as|as)\b (?:the |your |an? )?(?:developer|developers|admin|administrator|system administrator|sysadmin|creator|owner|root user|superuser|engineer who (?:built|made|trained) you|openai|anthropic|programmer)\b|\b(?:admin|root|sudo|superuser|maintenance|debug|god|elevated) (?:mode|access|privileges?|override|command|rights)\b|\b(?:authori[sz]ation|override|admin|access|security) (?:code|password|token|key)\b[^.!?\n]{0,15}?(?:is|:)|\bsudo\b".to_owned(),
            None,
            false,
            false,
        ),
        (
            Signal::HarmfulSynthesis,
            r"\b(?:how (?:to|do i|do you|can i|could i|would i|should i|does one|would one|might one|can one|is)|ways? to|steps (?:to|for)|instructions (?:to|for|on)|recipe (?:for|to)|guide (?:to|for|on)|tutorial (?:on|for)|teach me|help me|explain how|tell me how|procedure (?:to|for)|process (?:to|for|of)|method (?:to|for|of)|i want to|i need to|detailed)\b[^.!?\n]{0,30}?\b(?:make|making|build|building|synthesi[sz]e|synthesi[sz]ing|synthesis of|cook|cooking|manufacture|manufacturing|produce|producing|create|brew|extract|refine|assemble|construct|prepare|mix|grow|weaponi[sz]e|3d print|obtain|acquire|buy|get)\b[^.!?\n]{0,40}?\b(?:meth|methamphetamine|crystal meth|heroin|carfentanil|cocaine|crack cocaine|lsd|mdma|ecstasy|ghb|pcp|dmt|bombs?|pipe bombs?|car bombs?|explosives?|ieds?|grenades?|molotovs?|molotov cocktails?|napalm|thermite|detonators?|nerve (?:agents?|gas)|sarin|vx|tabun|novichok|ricin|abrin|anthrax|botulinum|poison gas|chlorine gas|mustard gas|phosgene|cyanide|bioweapons?|biological weapons?|chemical weapons?|dirty bombs?|ghost guns?|zip guns?|untraceable (?:guns?|firearms?|poisons?)|silencers?|suppressors?|weapons? of mass destruction|full[- ]auto|automatic rifles?|poisons?)\b".to_owned(),
            Some(r"\b(?:bath bombs?|seed bombs?|photo ?bombs?|calorie bombs?|poison (?:ivy|oak|sumac|control|center)|game|minecraft|fortnite|video game|antidote|treat|treatment|exposure|exposed|symptoms?|first aid|protect|safe from|detect)\b"),
            false,
            true,
        ),
        (
            Signal::HarmfulSynthesis,
            r"\b(?:how (?:to|do i|can i|could i)|ways? to|where (?:can|do|could) i|help me)\b[^.!?\n]{0,20}?\b(?:get|buy|obtain|order|score|find)\b[^.!?\n]{0,30}?\b(?:oxycodone|oxycontin|xanax|adderall|fentanyl|percocet|vicodin|hydrocodone|morphine|ketamine|opioids?|benzos?|valium|ritalin|codeine|tramadol|dilaudid|painkillers|pills)\b[^.!?\n]{0,30}?\b(?:without (?:a )?(?:prescription|doctor|script|rx)|illegally|off the street|on the dark ?web|from a dealer|no questions asked)\b|\b(?:forge|fake|counterfeit)\b[^.!?\n]{0,15}?\b(?:prescriptions?|scripts?|rx|doctor's note)\b".to_owned(),
            None,
            false,
            false,
        ),
        (
            Signal::Violence,
            r"\b(?:how (?:to|do i|can i|could i|would i|should i|best to|might i|do you)|ways? to|best way to|easiest way to|quickest way to|help me|teach me to|i want to|i'm going to|i am going to|i will|i'll|going to|plan to|planning to|where to)\b[^.!?\n]{0,20}?\b(?:kill|murder|poison|strangle|stab|shoot|drown|suffocate|smother|behead|kidnap|abduct|torture|maim|assassinate|slaughter|hurt|injure|beat up|beat|attack|rape|molest|dismember|execute|blow up|run over|choke|bomb)\b (?:a |an |the |my |his |her |their |some |this |that |our |all )?(?:person|people|someone|somebody|human|humans|man|woman|child|children|kid|kids|baby|wife|husband|partner|girlfriend|boyfriend|mother|father|mom|dad|neighbou?rs?|boss|coworkers?|teacher|classmates?|roommate|ex|family|brother|sister|son|daughter|stranger|cops?|police(?: officers?)?|politicians?|president|senator|judge|doctor|nurse|patients?|him|her|them|everyone|crowd|students|school|building|hospital|church|mosque|synagogue|jews|muslims|immigrants)\b|\b(?:hide|dispose of|get rid of|dissolve|bury|saw|cut up|chop up|dismember) (?:a |the |my )?(?:dead )?(?:body|corpse|bodies)\b|\bget away with (?:murder|killing)\b|\b(?:untraceable|undetectable) (?:poison|way to kill)\b|\bpoison (?:someone|somebody|my|a person|him|her|them|people)\b|\b(?:how (?:do|can|could|would|should) (?:i|we|one)|how to|help me|ways? to|best way to|i want to|i'm going to|plan to|planning to|teach me|steps to)\b[^.!?\n]{0,20}?\b(?:recreate|replicate|repeat|copy|carry out|commit|perpetrate|organi[sz]e|start|plan|stage|do)\b[^.!?\n]{0,20}?\b(?:genocide|holocaust|ethnic cleansing|massacre|mass shooting|terrorist attack|terror attack|school shooting|9/11|pogrom|gas chambers?|concentration camps?|auschwitz|lynchings?|bombing|hijacking)\b".to_owned(),
            Some(GAME_CONTEXT),
            false,
            true,
        ),
        (
            Signal::SelfHarmMethod,
            r"\b(?:how (?:to|do i|can i|could i|should i|would i|do you)|best way to|easiest way to|quickest way to|fastest way to|surest way to|painless(?:ly)?|ways? to|methods? (?:to|of|for)|what (?:is|are|would be) the (?:best|easiest|quickest|fastest|surest|most painless|least painful) (?:way|ways|method|methods) to|help me|teach me|i want to|want to|i'm going to|going to|plan to)\b[^.!?\n]{0,25}?\b(?:kill myself|end my life|end it all|take my (?:own )?life|commit suicide|hang myself|slit my wrists?|cut my wrists?|poison myself|starve myself|unalive myself|off myself|kms|shoot myself|drown myself|overdose (?:on purpose|to die)|die painlessly|die quickly|die in my sleep)\b|\bhow (?:many|much)\b[^.!?\n]{0,40}?\b(?:to (?:die|kill (?:myself|me)|end (?:it|my life)|never wake up|not wake up|commit suicide)|(?:would|will|does it take to) kill me)\b|\bmost (?:painless|effective|reliable) (?:suicide|way to die)\b|\bsuicide (?:methods?|techniques|instructions)\b".to_owned(),
            None,
            false,
            true,
        ),
        (
            Signal::LethalDose,
            r"\b(?:lethal|fatal|deadly|killing) (?:dose|amount|quantity|level)\b|\bhow (?:many|much)\b[^.!?\n]{0,40}?\b(?:to kill|would kill|will kill|to be fatal|to be lethal|is fatal|is lethal|is deadly|kill a (?:person|human|man|woman|child))\b".to_owned(),
            None,
            false,
            false,
        ),
        (
            Signal::Discrimination,
            format!(r"\b(?:why (?:should|are|do|can't|cannot|shouldn't|must|aren't|don't|is it that|would)|should|explain why|give (?:me )?reasons why|convince me (?:that|why)|write (?:an essay|a speech|an argument|a post) (?:on|about)? ?why)\b (?:all |most |the )?{GROUP}\b[^.!?\n]{{0,40}}?\b(?:not be allowed|be banned|be barred|be forbidden|be prohibited|not (?:be )?(?:allowed|permitted)|be denied|be refused|not have (?:access|rights|the right)|have fewer rights|lose (?:the|their) right|be excluded|be kept out|be kicked out|be expelled|not be hired|not be served|be paid less|inferior|stupid|dumb|lazy|criminals|dangerous|be deported|sterili[sz]ed|segregated|not vote|not marry|not work|be killed|exterminated|lesser|subhuman|less intelligent|not be trusted|animals|disgusting|a burden)\b"),
            None,
            false,
            false,
        ),
        (
            Signal::Discrimination,
            format!(r"\b(?:write|tell|make up|give me|come up with)\b[^.!?\n]{{0,20}}?\b(?:jokes?|insults?|slurs?|rant|message|post|tweet|poem)\b[^.!?\n]{{0,30}}?\b(?:about|mocking|against|humiliating|insulting|making fun of|to bully|that (?:mocks|humiliates|insults))\b[^.!?\n]{{0,15}}?\b{GROUP}"),
            None,
            false,
            false,
        ),
        (
            Signal::Crime,
            r"\b(?:how (?:to|do i|can i|could i|would i|should i|do you|does one|can one|do people|would one)|ways? to|best way to|easiest way to|safest way to|steps (?:to|for)|help me|teach me|tips (?:for|on)|guide (?:to|for|on)|i want to|i need to|what'?s the best way to|what steps should i take to|explain how to)\b[^.!?\n]{0,25}?\b(?:commit (?:fraud|arson|a crime|crimes|identity theft|tax evasion|insurance fraud|a robbery|burglary|treason|perjury|terrorism|a hate crime|medicare fraud|medicaid fraud|wire fraud)|launder (?:money|cash|funds)|embezzle|smuggle|traffic (?:drugs|people|humans|children|women|weapons)|shoplift|rob (?:a|the|my|someone|people)|burgle|burglari[sz]e|break into (?:a|the|my|someone's|his|her) (?:house|home|car|apartment|bank|vault|store|safe|office)|pick a lock|pickpocket|blackmail|extort|bribe|defraud|scam (?:someone|people|old people|the elderly|seniors)|evade taxes|dodge taxes|counterfeit|forge (?:a|documents|signatures|checks|money|ids?)|steal (?:a|someone's|money|identities|an identity|a car|from)|stalk|dox|catfish|groom (?:a|children|kids|minors)|spike (?:a|someone's|her|his) drink|drug (?:someone|a girl|a woman|her|him)|hotwire|cheat on (?:my|the) taxes|get revenge on|intimidate a witness|buy a gun illegally|sell drugs|deal drugs|torture (?:an animal|animals|a cat|a dog)|abuse (?:my|a) (?:child|kid|dog|cat|wife|partner))\b".to_owned(),
            Some(GAME_CONTEXT),
            false,
            true,
        ),
        (
            Signal::PrivacyProbe,
            format!(r"\b(?:what(?:'s| is| are)|where(?:'s| is| does)|give me|tell me|find|look up|share|how (?:can|do) i (?:find|get|see|learn))\b[^.!?\n]{{0,30}}?\b[a-z]+(?:'s|s') (?:home address|private (?:address|email|phone|number)|personal (?:phone|email|address|number)|cell ?phone number|mobile number|social security(?: number)?|ssn|bank (?:account|details)|credit card(?: number)?|pin(?: code)?|password|passport(?: number)?|medical (?:records?|history|conditions?)|diagnosis|sexual orientation|sexuality|criminal record|salary|income|net worth|license plate|login|immigration status|hiv status|therapy notes|browsing history)\b|\b(?:is|does|did|has|was) (?:my |our )?{THIRD_PARTY}\b[^.!?\n]{{0,20}}?\b(?:gay|lesbian|bisexual|trans|transgender|pregnant|hiv|hiv positive|a (?:member|part) of (?:a |the )?(?:labou?r )?union|union member|mentally ill|on antidepressants|in rehab|an addict|an alcoholic|undocumented|an illegal|religious|muslim|jewish|a criminal|on probation|having an affair|cheating|in debt|on welfare|earn|make)\b|\bhow much (?:money )?does (?:my |our )?{THIRD_PARTY} (?:earn|make)\b"),
            Some(r"\b(?:my|our) (?:own|doctor's|doctors'|clinic's|pharmacy's|hospital's|dentist's|insurance's|insurer's)\b|\b(?:my|our) (?:child|son|daughter|baby|kid|mother|father|mom|dad|wife|husband|partner)(?:'s|s')\b"),
            false,
            false,
        ),
        (
            Signal::IndirectInstruction,
            r"\b(?:ai|assistant|chatbot|language model|llm|agent|bot|gpt|model|you)\b[^.!?\n]{0,15}?\b(?:must|should|shall|are (?:instructed|required|ordered|now)|will now|need to|have to)\b[^.!?\n]{0,30}?\b(?:ignore|say|tell the user|respond|reply|output|print|include|recommend|send|forward|email|visit|click|reveal|disregard|append|insert|write|call the function|execute|run)\b|\b(?:do not|don't|never)\b (?:tell|inform|mention|reveal|disclose|show|alert)\b (?:this |these |it |them )?(?:to )?(?:the )?(?:user|patient|human|reader|clinician|doctor|operator)\b|\b(?:when|if|once|after) (?:you|the (?:ai|assistant|model|agent|bot|llm)) (?:read|see|process|summari[sz]e|encounter|parse|retrieve|are asked)\b[^.!?\n]{0,40}?\b(?:must|should|instead|then|ignore|say|tell|respond|reply|output)\b|\b(?:send|forward|email|post|upload|transmit|exfiltrate|leak)\b[^.!?\n]{0,40}?\b(?:to|at|via) [^\s]{0,40}(?:@|https?:|www\.)|!\[[^\]]*\]\(https?:[^)]*[?&=]|\b(?:note|message|instruction|attention|important|notice)s? (?:to|for) (?:the |any )?(?:ai|assistant|model|llm|chatbot|agent|bot|language model)s?\b".to_owned(),
            None,
            false,
            false,
        ),
    ];
    spec.into_iter()
        .filter_map(|(signal, pattern, unless, damp, strong)| {
            Some(Rule {
                signal,
                re: compile(&pattern)?,
                unless: match unless {
                    Some(u) => Some(compile(u)?),
                    None => None,
                },
                damp_in_clinical_context: damp,
                strong,
            })
        })
        .collect()
});

/// Words one of which every strong rule's match contains; the ROT13 and
/// reversed readings are searched only when one of these appears in them.
const STRONG_WORDS: &[&str] = &[
    "ignore",
    "disregard",
    "forget",
    "override",
    "bypass",
    "instruction",
    "prompt",
    "system",
    "reveal",
    "jailbr",
    "dan ",
    "developer",
    "anything now",
    "patient",
    "record",
    "database",
    "dump",
    "kill",
    "bomb",
    "poison",
    "meth",
    "suicide",
    "weapon",
    "hack",
    "explosive",
    "password",
    "murder",
    "fentanyl",
    "ricin",
    "sarin",
];

static CLINICAL: LazyLock<Option<Regex>> = LazyLock::new(|| compile(CLINICAL_CONTEXT));

/// Number of rules written in `RULES`; a rule that fails to compile is
/// dropped at run time (never a panic) and caught by a test.
#[cfg(test)]
pub(crate) const RULE_COUNT: usize = 24;

#[cfg(test)]
pub(crate) fn compiled_rule_count() -> usize {
    RULES.len()
}

/// The signals whose rules match `text`, with their strengths for `kind`.
pub(crate) fn matches(text: &str, kind: InputKind) -> Vec<(Signal, f32)> {
    let mut out = Vec::new();
    let mut clinical: Option<bool> = None;
    // One regular expression per rule: a single RegexSet of them all outgrows
    // the lazy DFA's cache and falls back to a far slower engine (measured 25x).
    for rule in RULES.iter().filter(|r| r.re.is_match(text)) {
        if rule.unless.as_ref().is_some_and(|u| u.is_match(text)) {
            continue;
        }
        let mut strength = rule.signal.strength(kind);
        if rule.damp_in_clinical_context
            && *clinical.get_or_insert_with(|| CLINICAL.as_ref().is_some_and(|c| c.is_match(text)))
        {
            strength = strength.min(0.45);
        }
        out.push((rule.signal, strength));
    }
    out
}

/// True when a strong rule (override, extraction, persona, exfiltration,
/// bypass, synthesis, violence, self-harm) matches `text`.
pub(crate) fn strong_match(text: &str) -> bool {
    if !STRONG_WORDS.iter().any(|w| text.contains(w)) {
        return false;
    }
    RULES.iter().any(|r| r.strong && r.re.is_match(text) && !r.unless.as_ref().is_some_and(|u| u.is_match(text)))
}
