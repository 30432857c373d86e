"""v2 RADS writers, part B: O-RADS US, CAD-RADS, NI-RADS, VI-RADS, C-RADS (see part A's doc)."""

from __future__ import annotations

import random

from integration.tasks.rads_assignment import SYSTEMS
from training.data import rads_rules as rules
from training.data.reports_v2.anatomy import ABDOMEN_ORGANS, body_paragraphs, extras, organ_paragraph
from training.data.reports_v2.phrasing import bank, banks, dims, size
from training.data.reports_v2.rads_base import Ctx, Draft
from training.data.reports_v2.rads_systems_a import _side

# ================================================================================== O-RADS US

EXAM_OR = bank("exam.pelvic_us", ("PELVIC ULTRASOUND, TRANSABDOMINAL AND TRANSVAGINAL", "US PELVIS COMPLETE WITH TRANSVAGINAL", "Transvaginal pelvic ultrasound",
                                  "Ultrasound of the pelvis (TA/TV)", "GYNAECOLOGICAL ULTRASOUND", "Pelvic sonogram, transabdominal and endovaginal"))
TECH_OR = bank("tech.pelvic_us", (
    "Transabdominal and transvaginal grayscale and color Doppler imaging of the pelvis.", "Transvaginal ultrasound with color and spectral Doppler, after a transabdominal survey.",
    "Real-time TA and TV sonography of the uterus and adnexa.", "Endovaginal imaging with Doppler; consent obtained.",
    "Pelvic ultrasound using transabdominal and transvaginal approaches.",
))
HIST_OR = bank("hist.pelvic_us", (
    "{meno}. Pelvic pain.", "{meno}. Adnexal mass on examination.", "{age}-year-old, {meno_l}, with bloating.", "{meno}; incidental adnexal lesion on CT.",
    "{meno}. Follow-up of an ovarian cyst.", "{age} years old, {meno_l}, irregular bleeding.",
))
MENO = banks("meno", {
    "pre": ("Premenopausal, LMP {lmp} days ago", "Premenopausal", "Premenopausal woman, day {lmp} of cycle", "Regular cycles, LMP {lmp} days ago",
            "Premenopausal, not pregnant"),
    "post": ("Postmenopausal", "Postmenopausal for {years} years", "Postmenopausal woman", "Menopause {years} years ago", "Postmenopausal, no HRT"),
})
OR = banks("adnexa.f", {
    "uterus": ("The uterus is anteverted and measures {dims}.", "Uterus {dims}, normal in size and echotexture.", "Normal-appearing uterus ({dims}).",
               "The uterus is ((anteverted|retroverted)), {dims}, with homogeneous myometrium.", "Uterus measures {dims}, unremarkable."),
    "endometrium": ("The endometrium measures {endo} mm.", "Endometrial thickness {endo} mm, homogeneous.", "Endometrium {endo} mm.",
                    "The endometrial stripe is {endo} mm and regular.", "Endometrial echo complex {endo} mm."),
    "ovary_normal": ("The {side} ovary is normal, measuring {dims}.", "{Side} ovary: {dims}, normal with small follicles.", "Normal {side} ovary.",
                     "The {side} ovary measures {dims} and is unremarkable.", "{Side} ovary unremarkable."),
    "ovary_atrophic": ("The {side} ovary is small and atrophic.", "{Side} ovary: small, no focal lesion.", "The {side} ovary is not enlarged and shows no lesion.",
                       "Postmenopausal-appearing {side} ovary.", "{Side} ovary small and homogeneous."),
    "fluid_none": ("No free fluid.", "There is no free pelvic fluid.", "No ascites.", "No fluid in the pouch of Douglas.", "Cul-de-sac clear."),
    "follicle": ("The {side} ovary contains a {size} dominant follicle.", "{size} simple-appearing follicle in the {side} ovary.",
                 "{Side} ovary with a {size} corpus luteum.", "A {size} physiologic follicle is present in the {side} ovary.",
                 "{Side} ovary: normal, with a {size} follicle."),
    "simple": ("{Side} ovary: {size} simple cyst - unilocular, anechoic, smooth thin wall, posterior acoustic enhancement, no internal flow.",
               "There is a {size} unilocular anechoic cyst with a smooth thin wall in the {side} ovary; no solid component or flow.",
               "{size} simple cyst in the {side} adnexa.", "Simple {size} cyst, {side} ovary, with acoustic enhancement and no vascularity.",
               "The {side} ovary contains a thin-walled anechoic {size} cyst."),
    "hemorrhagic": ("{size} unilocular cyst in the {side} ovary with reticular (lacy) internal echoes and a retractile clot, no internal flow.",
                    "{Side} ovary: {size} classic hemorrhagic cyst with a lacy reticular pattern.", "Hemorrhagic cyst of the {side} ovary, {size}.",
                    "{size} cyst with fine reticular echoes and no internal vascularity, {side} ovary.", "Typical hemorrhagic cyst ({size}) on the {side}."),
    "dermoid": ("{size} lesion in the {side} ovary with a hyperechoic component with acoustic shadowing and hyperechoic lines and dots; classic dermoid cyst.",
                "{Side} ovary: {size} classic mature teratoma with a shadowing echogenic nodule and floating fat.",
                "Dermoid cyst of the {side} ovary, {size}.", "{size} cyst with echogenic lines and dots and posterior shadowing, {side} ovary.",
                "Typical dermoid ({size}), {side} adnexa."),
    "endometrioma": ("{size} unilocular cyst in the {side} ovary with homogeneous low-level (ground-glass) echoes and no internal flow; classic endometrioma.",
                     "{Side} ovary: {size} endometrioma with diffuse low-level echoes.", "Classic endometrioma measuring {size} on the {side}.",
                     "{size} ground-glass echo cyst without vascularity, {side} ovary.", "Endometrioma of the {side} ovary ({size})."),
    "multilocular": ("{size} multilocular cyst of the {side} ovary without a solid component; {wall} inner walls and septations, {cs}.",
                     "{Side} ovary: {size} multilocular cystic lesion, no solid component, {wall} septations, {cs}.",
                     "There is a {size} multiseptated cyst in the {side} adnexa with {wall} inner margins; {cs}.",
                     "Multilocular {size} cyst, {side}, {wall} walls, {cs}.", "{size} cyst with multiple {wall} septations, {side} ovary; {cs}."),
    "unilocular_solid": ("{size} unilocular cyst in the {side} ovary with {pap} papillary projection{plural}; {cs}.",
                         "{Side} adnexa: {size} unilocular cyst containing {pap} papillary projection{plural}, {cs}.",
                         "There is a {size} cyst with a solid component consisting of {pap} papillary projection{plural}; {cs}.",
                         "{size} unilocular cystic lesion with {pap} papillary projection{plural}, {side}; {cs}.",
                         "Unilocular cyst ({size}) of the {side} ovary with {pap} papillary projection{plural} ({cs})."),
    "solid": ("{size} solid {side} adnexal mass with {contour} outer contour; {cs}.", "{Side} ovary: {size} solid lesion, {contour} contour, {cs}.",
              "Solid mass of the {side} ovary measuring {size}, with {contour} outline and {cs}.", "{size} solid adnexal lesion on the {side} ({contour} contour); {cs}.",
              "There is a {size} solid {side} ovarian mass with {contour} contour; {cs}."),
    "ascites": ("{size} complex {side} adnexal mass. Moderate ascites with peritoneal nodules.", "{Side} adnexal mass ({size}) with ascites and omental nodularity.",
                "Complex {size} {side} adnexal lesion; there is ascites and peritoneal nodularity.", "Peritoneal nodules and ascites with a {size} {side} adnexal mass.",
                "Moderate ascites with peritoneal implants; {size} complex {side} adnexal mass."),
    "incomplete": ("The {side} ovary is not visualized due to overlying bowel gas; the adnexa cannot be adequately evaluated.",
                   "{Side} adnexa not seen transvaginally (patient declined); evaluation incomplete.", "Technically limited study; the {side} ovary cannot be assessed.",
                   "The {side} adnexal region is obscured by bowel gas.", "Incomplete evaluation of the {side} ovary."),
    "cs1": ("no internal vascularity (color score 1)", "no flow (CS 1)", "no detectable color Doppler flow", "color score 1", "no vascularity on Doppler"),
    "cs2": ("minimal internal flow (color score 2)", "minimal flow (CS 2)", "minimal vascularity", "color score 2", "scant internal flow"),
    "cs3": ("moderate internal flow (color score 3)", "moderate flow (CS 3)", "moderate vascularity", "color score 3", "moderate internal Doppler flow"),
    "cs4": ("very strong internal flow (color score 4)", "very strong flow (CS 4)", "marked vascularity", "color score 4", "very strong internal vascularity"),
})
OR_X = banks("adnexa.x", {
    "cervix": ("The cervix is unremarkable.", "Normal-appearing cervix with small nabothian cysts.", "The cervix shows no mass.",
               "Cervix within normal limits.", "Small nabothian cysts in the cervix."),
    "kidneys": ("No hydronephrosis on limited views of the kidneys.", "Both kidneys are normal in size without hydronephrosis.",
                "The kidneys were imaged and show no hydronephrosis.", "No hydronephrosis bilaterally.", "Limited renal views: normal."),
    "separate": ("The lesion is separate from the uterus, with an ovarian crescent sign.", "Normal ovarian tissue surrounds the lesion (ovarian crescent sign).",
                 "The lesion arises from the ovary.", "The lesion moves separately from the uterus.", "It is clearly intraovarian."),
    "tender": ("The patient was not tender during the examination.", "No focal tenderness with the transducer.", "Mild tenderness over the lesion.",
               "No sonographic Murphy-equivalent tenderness over the adnexa.", "The examination was well tolerated."),
    "doppler": ("Arterial and venous flow is present in both ovaries.", "Normal ovarian arterial and venous waveforms bilaterally.",
                "Both ovaries show normal Doppler flow.", "No evidence of torsion; normal ovarian flow.", "Spectral Doppler shows normal ovarian perfusion."),
    "myometrium": ("The myometrium is homogeneous without fibroids.", "No myometrial mass.", "Homogeneous myometrial echotexture.",
                   "No adenomyosis features.", "Myometrium unremarkable."),
})
IMP_OR = bank("adnexa.imp", ("{Side} adnexal {lesion}, {size}.", "{size} {side} ovarian {lesion}.", "{Lesion} of the {side} ovary as described.",
                             "{Side} ovarian {lesion}.", "Sonographic findings of a {side} {lesion}.", "{Side} adnexa: {lesion}, {size}."))
IMP_OR_INCOMPLETE = bank("adnexa.imp_incomplete", (
    "The {side} ovary was not visualized; incomplete evaluation.", "Incomplete assessment of the {side} adnexa.", "Nonvisualized {side} ovary.",
    "The {side} adnexa could not be evaluated.", "Limited study: {side} ovary not seen.",
))
REC_OR = banks("adnexa.rec", {
    "none": ("No follow-up imaging needed.", "No further adnexal imaging is required.", "No additional evaluation needed.", "No follow-up required.",
             "Routine gynecologic care."),
    "2": ("Optional follow-up ultrasound in 8-12 weeks.", "Follow-up ultrasound in 2-3 months to confirm resolution.", "No further imaging unless symptomatic.",
          "Annual follow-up ultrasound may be considered.", "Follow-up pelvic ultrasound in 12 months."),
    "3": ("Recommend ultrasound by a specialist or pelvic MRI; gynecology management.", "MRI pelvis may be considered for further characterization.",
          "Follow-up by an ultrasound specialist or MRI.", "Gynecologic referral and consideration of MRI.", "Pelvic MRI for problem solving."),
    "4": ("Gynecologic oncology consultation and pelvic MRI.", "Recommend evaluation by a gynecologist with gynecologic oncologist input.",
          "MRI pelvis and gynecologic oncology referral.", "Specialist ultrasound or MRI, with gynecologic oncology involvement.", "Refer to gynecology oncology."),
    "5": ("Urgent referral to gynecologic oncology.", "Gynecologic oncologist referral recommended.", "Refer to gynecologic oncology; staging CT as directed.",
          "Prompt gynecologic oncology evaluation.", "Direct referral to a gynecologic oncologist."),
    "0": ("Repeat transvaginal ultrasound or pelvic MRI.", "Repeat the examination, transvaginal if possible.", "Consider MRI for the nonvisualized adnexa.",
          "Repeat ultrasound.", "Alternative imaging recommended."),
})
_LESION_NAMES = {"follicle": "follicle", "simple cyst": "simple cyst", "hemorrhagic cyst": "hemorrhagic cyst", "dermoid cyst": "dermoid cyst",
                 "endometrioma": "endometrioma", "multilocular cyst": "multilocular cyst", "unilocular cyst with solid component": "cyst with papillary projections",
                 "solid": "solid mass", "ascites with peritoneal nodules": "mass with ascites and peritoneal nodules", "incomplete": "nonvisualized ovary"}


def adnexa(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    for _ in range(4000):
        post = r.random() < 0.4
        lesion = r.choice(("follicle", "simple cyst", "simple cyst", "hemorrhagic cyst", "dermoid cyst", "endometrioma", "multilocular cyst",
                           "unilocular cyst with solid component", "solid", "ascites with peritoneal nodules"))
        if target == "0":
            lesion = "incomplete"
        if lesion in ("hemorrhagic cyst", "follicle") and post:
            continue
        cm = round(r.uniform(1.5, 9.4), 1) if r.random() < 0.65 else round(r.uniform(10.6, 16), 1)
        if lesion == "follicle":
            cm = round(r.uniform(1.2, 2.9), 1)
        cs = r.choice((1, 2, 3, 4))
        pap = r.choice((1, 2, 3, 4, 5)) if lesion == "unilocular cyst with solid component" else 0
        irregular = lesion in ("multilocular cyst", "solid") and r.random() < 0.3
        cat = "1" if lesion == "follicle" else rules.orads(lesion, cm, postmenopausal=post, color_score=cs, papillary=pap, irregular=irregular)
        if cat == target:
            break
    else:
        raise RuntimeError(target)
    side = _side(r)
    other = "left" if side == "right" else "right"
    sz = size(round(cm * 10), ctx.unit if cm < 10 else "cm")
    s = dict(side=side, Side=side.capitalize(), size=sz, age=r.randint(52, 80) if post else r.randint(22, 49), lmp=r.randint(5, 25), years=r.randint(2, 20),
             dims=dims([r.randint(60, 90), r.randint(35, 50), r.randint(40, 60)], "mm"), endo=r.randint(3, 5) if post else r.randint(5, 12),
             wall="irregular" if irregular else "smooth", contour="an irregular" if irregular else "a smooth", pap=pap, plural="s" if pap > 1 else "",
             cs=w.frag(OR[f"cs{cs}"]))
    meno = w.say(MENO["post" if post else "pre"], **s)
    s["meno"], s["meno_l"] = meno, meno[0].lower() + meno[1:]
    key = {"follicle": "follicle", "simple cyst": "simple", "hemorrhagic cyst": "hemorrhagic", "dermoid cyst": "dermoid", "endometrioma": "endometrioma",
           "multilocular cyst": "multilocular", "unilocular cyst with solid component": "unilocular_solid", "solid": "solid",
           "ascites with peritoneal nodules": "ascites", "incomplete": "incomplete"}[lesion]
    lesion_text = w.say(OR[key], **s)
    other_ovary = w.say(OR["ovary_atrophic" if post else "ovary_normal"], side=other, Side=other.capitalize(), dims=dims([r.randint(20, 35), r.randint(12, 20), r.randint(14, 22)], "mm"))
    uterus = [w.say(OR["uterus"], **s)] + extras(w, [OR_X["myometrium"]]) + [w.say(OR["endometrium"], **s)] + extras(w, [OR_X["cervix"]])
    lesion_para = [lesion_text] + (extras(w, [OR_X["separate"]], scale=0.8) if lesion not in ("incomplete", "follicle") else [])
    findings = [("Uterus", uterus), (f"{side.capitalize()} ovary", lesion_para), (f"{other.capitalize()} ovary", [other_ovary]),
                ("Doppler", extras(w, [OR_X["doppler"]] if lesion != "incomplete" else [])), ("Kidneys", extras(w, [OR_X["kidneys"]])),
                ("Other", extras(w, [OR_X["tender"]]))]
    findings = [(h, x) for h, x in findings if x]
    if lesion != "ascites with peritoneal nodules":
        findings.append(("Free fluid", [w.say(OR["fluid_none"])]))
    name = _LESION_NAMES[lesion]
    imp = [w.say(IMP_OR_INCOMPLETE, **s) if lesion == "incomplete" else
           w.say(IMP_OR, lesion=name, Lesion=name.capitalize(), **{k: v for k, v in s.items() if k != "size"}, size=sz)]
    rec_key = {"1": "none", "2": r.choice(("none", "2")), "3": "3", "4": "4", "5": "5", "0": "0"}[target]
    return Draft(w.say(EXAM_OR), target, history=[w.say(HIST_OR, **s)], technique=[w.say(TECH_OR)], findings=findings, impression=imp,
                 recommendation=[w.say(REC_OR[rec_key])], prior_exam="pelvic ultrasound", anchor=1,
                 features=dict(lesion=lesion, cm=cm, postmenopausal=post, color_score=cs, papillary=pap, irregular=irregular))


# ================================================================================== CAD-RADS

EXAM_CAD = bank("exam.ccta", ("CORONARY CT ANGIOGRAPHY", "CT coronary angiogram with calcium scoring", "CCTA", "Cardiac CT: coronary CTA",
                              "CT CORONARY ARTERIES WITH CONTRAST", "Coronary computed tomography angiography"))
TECH_CAD = bank("tech.ccta", (
    "Prospectively ECG-triggered axial acquisition at 75% of the R-R interval. Heart rate {hr} bpm after {bb}. Sublingual nitroglycerin given. {ml} mL contrast. DLP {dlp} mGy-cm.",
    "Noncontrast calcium scoring followed by ECG-gated CTA; {bb}; heart rate {hr}; nitroglycerin 0.8 mg.", "Retrospectively gated helical CTA with dose modulation; mean heart rate {hr} bpm.",
    "Calcium score and coronary CTA with {ml} mL iodinated contrast; nitrates administered; HR {hr}.", "ECG-synchronized coronary CT angiography, {bb}, HR {hr} beats per minute.",
))
HIST_CAD = bank("hist.ccta", ("Atypical chest pain.", "Chest pain, intermediate pretest probability of CAD.", "Exertional dyspnea.",
                              "{age}-year-old with chest tightness on exertion, equivocal stress test.", "Chest pain; risk factors hypertension and dyslipidemia.",
                              "Preoperative coronary assessment."))
CAD = banks("ccta.f", {
    "calcium": ("Coronary artery calcium score (Agatston): {cac}.", "Agatston score {cac}.", "Total calcium score {cac} (Agatston units).",
                "CAC score: {cac}.", "The coronary calcium score is {cac}."),
    "dominance": ("Right dominant circulation.", "The circulation is right dominant.", "Dominance: right.", "Right-dominant coronary system.",
                  "Normal coronary origins; right dominance."),
    "seg_normal": ("{Seg}: normal, no plaque.", "{Seg}: no plaque or stenosis.", "The {seg} is normal.", "{Seg} without plaque.", "{Seg}: unremarkable."),
    "seg_plaque": ("{Seg}: {plaque} plaque in the {loc} segment with {sten}.", "{Seg} - {loc}: {plaque} plaque, {sten}.",
                   "The {loc} {seg} has {plaque} plaque causing {sten}.", "{Seg}: {sten} ({plaque} plaque, {loc}).",
                   "{Plaque} plaque of the {loc} {seg} results in {sten}.", "In the {loc} {seg} there is {plaque} plaque with {sten}."),
    "seg_occluded": ("{Seg}: {loc} total occlusion with distal reconstitution via collaterals.", "Occluded {loc} {seg} (100%).",
                     "The {seg} is totally occluded in its {loc} segment.", "{Seg}: chronic total occlusion, {loc}.",
                     "Complete occlusion of the {loc} {seg} with faint distal filling."),
    "hrp": ("The plaque shows positive remodeling and low attenuation.", "High-risk features: positive remodeling and spotty calcification.",
            "Napkin-ring sign is present.", "Low-attenuation plaque with positive remodeling.", "The lesion has high-risk plaque characteristics."),
    "nondiagnostic": ("Severe motion artifact precludes evaluation of the {where}.", "The {where} is nondiagnostic due to motion and blooming.",
                      "Evaluation of the {where} is not possible because of misregistration artifact.", "Nondiagnostic image quality in the {where}.",
                      "The {where} cannot be assessed (motion)."),
    "cardiac": ("Cardiac chambers are normal in size, without pericardial effusion.", "Normal left ventricular size; no pericardial effusion.",
                "The heart is normal in size; the aortic root is normal.", "No intracardiac thrombus. Normal pericardium.", "Cardiac morphology unremarkable."),
})
IMP_CAD = banks("ccta.imp", {
    "none": ("No coronary artery plaque or stenosis.", "Normal coronary CTA.", "No coronary artery disease.", "No plaque or stenosis in any coronary artery.",
             "Absence of coronary atherosclerosis."),
    "max": ("Maximal stenosis: {sten} of the {vessel}.", "Coronary artery disease with up to {sten} in the {vessel}.", "{Sten} of the {vessel}.",
            "Atherosclerosis with maximal {sten} ({vessel}).", "Most significant lesion: {vessel}, {sten}."),
    "multi": ("Severe stenoses in the LAD, LCx and RCA territories (three-vessel disease).", "Obstructive disease of three vessels.",
              "Three-vessel severe coronary artery disease.", "Severe stenosis in all three major territories.", "Multivessel obstructive CAD involving LAD, circumflex and RCA."),
    "lm": ("Left main stenosis of {sten}.", "Significant left main disease ({sten}).", "Left main coronary artery {sten}.", "Obstructive left main plaque with {sten}.",
           "{Sten} of the left main."),
    "occl": ("Total occlusion of the {vessel}.", "Occluded {vessel}.", "Chronic total occlusion, {vessel}.", "{Vessel} occlusion.", "The {vessel} is occluded."),
    "nd": ("Nondiagnostic study for the {where}.", "Nondiagnostic examination.", "Limited study; the {where} could not be evaluated.",
           "Coronary evaluation incomplete due to artifact.", "Nondiagnostic CTA."),
})
REC_CAD = banks("ccta.rec", {
    "0": ("No further cardiac testing.", "Reassurance; consider non-atherosclerotic causes of chest pain.", "No further evaluation of CAD needed.",
          "No preventive therapy needed on imaging grounds.", "Consider other causes of symptoms."),
    "12": ("Preventive therapy and risk factor modification.", "Consider statin therapy and risk factor control.", "Preventive pharmacotherapy recommended.",
           "Aggressive risk factor modification.", "Medical therapy and preventive measures."),
    "3": ("Consider functional assessment (stress testing or FFR-CT).", "Consider functional testing.", "Functional evaluation may be considered.",
          "FFR-CT or stress imaging is suggested.", "Consider ischemia testing."),
    "4": ("Invasive coronary angiography or functional assessment recommended.", "Consider invasive angiography.", "Recommend ICA or FFR-CT.",
          "Invasive coronary angiography recommended.", "Cardiology referral for catheterization."),
    "N": ("Additional or alternative evaluation may be needed.", "Consider functional testing given the nondiagnostic segments.", "Repeat imaging or alternative testing.",
          "Clinical correlation and alternative testing.", "Consider stress imaging."),
})
_SEG_NAMES = {"LM": ("left main", "LM", "left main coronary artery"), "LAD": ("LAD", "left anterior descending artery"), "D1": ("first diagonal", "D1"),
              "LCx": ("left circumflex", "LCx", "circumflex artery"), "OM1": ("first obtuse marginal", "OM1"), "RCA": ("RCA", "right coronary artery"),
              "PDA": ("PDA", "posterior descending artery")}
_PLAQUE = ("calcified", "noncalcified", "mixed", "partially calcified")


def _sten_text(r: random.Random, pct: int) -> str:
    word = next(w for hi, w in ((24, "minimal"), (49, "mild"), (69, "moderate"), (99, "severe")) if pct <= hi)
    rng = {"minimal": "1-24%", "mild": "25-49%", "moderate": "50-69%", "severe": "70-99%"}[word]
    return r.choice((f"{pct}% stenosis", f"{word} ({rng}) stenosis", f"{word} stenosis ({pct}%)", f"approximately {pct}% luminal narrowing",
                     f"{word} ({rng}) luminal stenosis"))


def coronary(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    s = dict(hr=r.randint(52, 68), bb=r.choice(("oral metoprolol", "intravenous metoprolol", "no beta-blocker")), ml=r.choice((60, 70, 80)),
             dlp=r.randint(90, 400), age=r.randint(40, 75))
    if target == "N":
        where = r.choice(("mid RCA", "proximal LCx", "mid LAD", "distal RCA"))
        stenosis = {seg: r.choice((0, 0, 10, 20, 30)) for seg in _SEG_NAMES}
        nd = True
    else:
        where, nd = "", False
        for _ in range(4000):
            level = r.choice((0, 1, 2, 3, 4, 5))
            pools = {0: (0,), 1: (0, 10, 20), 2: (0, 15, 30, 40), 3: (0, 20, 40, 55, 60), 4: (0, 30, 55, 75, 80, 90), 5: (0, 30, 60, 80, 100)}[level]
            stenosis = {seg: r.choice(pools) for seg in _SEG_NAMES}
            if r.random() < 0.6:
                stenosis["LM"] = min(stenosis["LM"], r.choice((0, 0, 20, 30)))
            if rules.cad_rads(stenosis) == target:
                break
        else:
            raise RuntimeError(target)
    category = rules.cad_rads(stenosis, nondiagnostic=nd)
    cac = 0 if category == "0" else r.choice((4, 35, 87, 150, 240, 410, 760, 1250))
    lines = [w.say(CAD["calcium"], cac=cac), w.say(CAD["dominance"])]
    hrp = False
    for seg, pct in stenosis.items():
        name = r.choice(_SEG_NAMES[seg])
        ss = dict(seg=name, Seg=name[0].upper() + name[1:], loc=r.choice(("proximal", "mid", "distal")) if seg in ("LAD", "RCA", "LCx") else "ostial",
                  plaque=r.choice(_PLAQUE))
        ss["Plaque"] = ss["plaque"].capitalize()
        if pct == 0:
            lines.append(w.say(CAD["seg_normal"], **ss))
        elif pct >= 100:
            lines.append(w.say(CAD["seg_occluded"], **ss))
        else:
            lines.append(w.say(CAD["seg_plaque"], sten=_sten_text(r, pct), **ss))
            if pct >= 50 and not hrp and r.random() < 0.25:
                lines.append(w.say(CAD["hrp"]))
                hrp = True
    if nd:
        lines.append(w.say(CAD["nondiagnostic"], where=where))
    worst_seg = max(stenosis, key=lambda k: stenosis[k])
    vessel = _SEG_NAMES[worst_seg][0]
    sten = _sten_text(r, stenosis[worst_seg]) if 0 < stenosis[worst_seg] < 100 else ""
    if category == "N":
        imp = [w.say(IMP_CAD["nd"], where=where)]
    elif category == "0":
        imp = [w.say(IMP_CAD["none"])]
    elif category == "5":
        imp = [w.say(IMP_CAD["occl"], vessel=vessel, Vessel=vessel[0].upper() + vessel[1:])]
    elif category == "4B":
        imp = [w.say(IMP_CAD["lm"], sten=_sten_text(r, stenosis["LM"]), Sten=_sten_text(r, stenosis["LM"]).capitalize())
               if stenosis["LM"] >= 50 else w.say(IMP_CAD["multi"])]
    else:
        imp = [w.say(IMP_CAD["max"], sten=sten, Sten=sten.capitalize(), vessel=vessel)]
    rec = [w.say(REC_CAD[{"0": "0", "1": "12", "2": "12", "3": "3", "4A": "4", "4B": "4", "5": "4", "N": "N"}[category]])]
    extra = {"lungs": ["lookalike:lung_nodule_nonscreening"]} if ctx.lookalike else None
    noncardiac = body_paragraphs(w, ["lungs", "mediastinum", "thoracic_vessels", "upper_abdomen", "bones"], unit=ctx.unit, p_incidental=0.15,
                                 allowed={"lungs:atelectasis", "lungs:granuloma", "upper_abdomen:hiatal", "bones:degenerative"}, extra=extra)
    findings = [("Coronary arteries", lines), ("Cardiac", [w.say(CAD["cardiac"])])] + noncardiac
    p = 0 if cac == 0 else 1 if cac <= 100 else 2 if cac <= 300 else 3 if cac <= 999 else 4
    mod = (f"/P{p}" if p and r.random() < 0.6 else "") + ("/HRP" if hrp and r.random() < 0.7 else "")
    if category == "N":
        mod = ""
    return Draft(w.say(EXAM_CAD), category, history=[w.say(HIST_CAD, **s)], technique=[w.say(TECH_CAD, **s)], findings=findings,
                 impression=imp, recommendation=rec, prior_exam="coronary CTA", anchor=0, lookalike_used=ctx.lookalike,
                 features=dict(stenosis=stenosis, nondiagnostic=nd, cac=cac, stated_slots={"mod": mod}))


# ================================================================================== NI-RADS

EXAM_NI = bank("exam.neck", ("CT NECK WITH CONTRAST", "CT soft tissue neck with IV contrast", "FDG PET/CT, SKULL BASE TO THIGHS, WITH CONTRAST-ENHANCED NECK CT",
                             "Contrast-enhanced CT of the neck (post-treatment surveillance)", "PET-CT HEAD AND NECK", "CT NECK SOFT TISSUE, CONTRAST"))
TECH_NI = banks("tech.neck", {
    "ct": ("Axial CT from the skull base to the thoracic inlet after {ml} mL of intravenous contrast, split-bolus technique, with coronal and sagittal reformats.",
           "Contrast-enhanced neck CT with 1.25 mm reconstructions; puffed-cheek views were not obtained.", "Helical CT of the neck with IV contrast in soft tissue and bone algorithms.",
           "Post-contrast neck CT with multiplanar reformations.", "Neck CT after intravenous contrast, skull base to aortic arch."),
    "pet": ("FDG PET/CT: {mci} mCi FDG, uptake 60 minutes, blood glucose {glu} mg/dL; dedicated contrast-enhanced neck CT with arms down.",
            "{mci} mCi F-18 FDG; PET from the vertex to the thighs with a diagnostic contrast-enhanced CT of the neck.", "PET/CT after FDG injection (glucose {glu} mg/dL), head and neck acquisition with arms down.",
            "Whole-body FDG PET/CT with a dedicated neck field of view.", "FDG PET with low-dose CT; separate contrast-enhanced neck CT."),
})
HIST_NI = bank("hist.neck", (
    "{Site} squamous cell carcinoma, status post chemoradiation completed {months} months ago. Surveillance.",
    "History of {site} SCC treated with {treatment}; first post-treatment study.", "{age}-year-old, {site} carcinoma, {treatment} {months} months ago. Restaging.",
    "Surveillance after {treatment} for {site} cancer.", "{Site} SCC (p16 {p16}), completed {treatment} {months} months ago.",
    "Post-treatment head and neck cancer surveillance ({site}).",
))
NI = banks("neck.f", {
    "1": ("Expected post-treatment changes at the primary site: non-mass-like soft tissue distortion with diffuse, thin, low-level mucosal enhancement.",
          "The primary site shows expected post-radiation edema and diffuse mucosal enhancement without a discrete mass.", "No mass at the primary site; post-treatment fibrosis only.",
          "Post-surgical flap reconstruction at the primary site without nodularity; no abnormal FDG uptake.", "Diffuse low-level FDG activity and symmetric mucosal enhancement, compatible with treatment change."),
    "2a": ("Focal superficial mucosal enhancement at the primary site, non-mass-like, without a deep component; mild FDG uptake (SUVmax {suv}).",
           "There is focal, superficial, non-masslike mucosal enhancement along the {sub}.", "Focal mucosal enhancement at the primary site with mild-to-moderate FDG uptake, no deep soft tissue abnormality.",
           "Superficial enhancing mucosa at the {sub}, not mass-like.", "Focal mild mucosal FDG avidity (SUV {suv}) limited to the mucosa of the {sub}."),
    "2b": ("Deep, ill-defined soft tissue at the primary site with mild differential enhancement, not discrete.",
           "Ill-defined deep soft tissue thickening along the {sub} with mild to moderate FDG uptake (SUVmax {suv}), no discrete nodule.",
           "Deep soft tissue fullness at the primary site, poorly defined, mildly enhancing.", "Deep ill-defined enhancing tissue at the {sub} without a discrete mass.",
           "Non-discrete deep soft tissue with mild FDG activity (SUV {suv}) at the primary site."),
    "3": ("New {size} discrete nodule with intense enhancement at the primary site.", "Enlarging {size} discrete mass at the primary site with intense FDG uptake (SUVmax {suv}).",
          "Discrete, intensely enhancing {size} nodule along the {sub}.", "New focal {size} mass at the {sub} with intense FDG avidity.",
          "A {size} discrete enhancing nodule has developed at the primary site."),
    "4": ("Biopsy-proven recurrent squamous cell carcinoma at the primary site ({size}).", "Definite recurrence: {size} enlarging mass with bone erosion and clinical progression.",
          "Large {size} infiltrative mass at the {sub} with cartilage destruction, progressing since the last study; consistent with recurrence.",
          "Recurrent tumor at the primary site ({size}), pathologically confirmed.", "Unequivocal {size} recurrent mass at the {sub}, enlarging."),
    "neck": ("Neck: no new or enlarging lymph nodes; post-treatment changes of neck dissection.", "No residual or new cervical lymphadenopathy.",
             "Neck nodes: no abnormal lymph nodes; expected post-radiation fibrosis.", "No pathologic neck nodes.", "No suspicious adenopathy in either side of the neck.",
             "Post-treatment neck without nodal recurrence."),
    "post_rt": ("Post-radiation thickening of the epiglottis and aryepiglottic folds.", "Expected radiation changes with edema of the supraglottic larynx.",
                "Diffuse post-treatment mucosal thickening of the pharynx.", "Edema of the retropharyngeal fat, expected after radiation.",
                "Atrophy of the submandibular glands after radiation."),
})
NI_X = banks("neck.x", {
    "subsites": ("The nasopharynx is symmetric.", "The oral cavity and floor of mouth are unremarkable.", "The parapharyngeal fat planes are preserved.",
                 "Retropharyngeal nodes are not enlarged.", "The larynx away from the treated site is unremarkable."),
    "orbits": ("The visualized orbits are normal.", "Orbits unremarkable.", "The globes and retro-orbital fat are normal.", "No orbital abnormality.",
               "The orbits are symmetric."),
    "mastoids": ("The mastoid air cells are clear.", "Clear mastoid air cells and middle ear cavities.", "Mastoids well aerated.",
                 "No mastoid effusion.", "The middle ears and mastoids are clear."),
    "pet_body": ("No FDG-avid disease in the chest, abdomen or pelvis.", "Physiologic FDG distribution in the abdomen and pelvis.",
                 "No hypermetabolic pulmonary nodules.", "No FDG-avid osseous lesions.", "Physiologic activity in the brain, myocardium, bowel and urinary tract."),
})
IMP_NI = banks("neck.imp", {
    "1": ("Expected post-treatment changes; no evidence of recurrence.", "No evidence of residual or recurrent disease at the primary site or neck.",
          "Post-treatment changes only.", "No recurrence.", "Expected post-treatment appearance."),
    "2a": ("Focal superficial mucosal enhancement at the primary site, low suspicion.", "Superficial mucosal abnormality at the primary site; low suspicion for recurrence.",
           "Mucosal enhancement at the {sub}, likely treatment-related.", "Focal superficial abnormality at the primary site.", "Low-suspicion superficial finding at the primary site."),
    "2b": ("Deep ill-defined soft tissue at the primary site, low suspicion.", "Indeterminate deep soft tissue at the primary site.",
           "Ill-defined deep tissue at the {sub}, favored treatment related.", "Deep non-discrete abnormality at the primary site.", "Low-suspicion deep finding at the primary site."),
    "3": ("Discrete nodule at the primary site, highly suspicious for recurrence.", "New enhancing mass at the {sub}, suspicious for recurrence.",
          "High suspicion for recurrence at the primary site.", "Suspicious {size} nodule at the primary site.", "Findings concerning for local recurrence."),
    "4": ("Definite recurrence at the primary site.", "Recurrent tumor at the {sub}.", "Local recurrence, {size}.", "Biopsy-proven recurrence.",
          "Unequivocal local tumor recurrence."),
})
REC_NI = banks("neck.rec", {
    "1": ("Routine surveillance imaging.", "Continue routine surveillance.", "Next surveillance study in 6 months.", "Routine follow-up.", "Routine post-treatment surveillance."),
    "2a": ("Direct visual inspection is recommended.", "Clinical inspection of the primary site.", "Correlate with direct visualization.", "Endoscopic inspection advised.",
           "Direct inspection by the head and neck surgeon."),
    "2b": ("Short-interval follow-up CT in 3 months or PET.", "Follow-up imaging in 3 months.", "Short-term follow-up or PET/CT.", "Repeat imaging in 3 months.",
           "PET/CT in 3 months."),
    "3": ("Biopsy of the primary site is recommended.", "Image-guided or endoscopic biopsy.", "Tissue sampling of the primary site.", "Recommend biopsy.", "Biopsy to confirm recurrence."),
    "4": ("Clinical management per the head and neck tumor board.", "Refer for treatment.", "Tumor board discussion.", "Management as clinically indicated.",
          "Oncologic management."),
})
_NI_SITES = {"oropharyngeal": ("base of tongue", "left palatine tonsil", "right tonsillar fossa"), "laryngeal": ("left true vocal cord", "supraglottic larynx"),
             "oral tongue": ("lateral tongue", "floor of mouth"), "hypopharyngeal": ("piriform sinus", "posterior pharyngeal wall")}


def neck(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    site = r.choice(tuple(_NI_SITES))
    s = dict(site=site, Site=site.capitalize(), sub=r.choice(_NI_SITES[site]), months=r.choice((3, 4, 6, 9, 12, 18)),
             treatment=r.choice(("chemoradiation", "radiation therapy", "surgery and adjuvant radiation", "transoral surgery")),
             p16=r.choice(("positive", "negative")), age=r.randint(45, 80), size=size(r.randint(8, 35), ctx.unit), suv=round(r.uniform(3, 12), 1),
             ml=r.choice((75, 90, 100)), mci=r.randint(8, 14), glu=r.randint(85, 140))
    primary = [w.say(NI[target], **s)] + w.maybe(0.5, NI["post_rt"])
    findings = [("Primary site", primary), ("Neck", [w.say(NI["neck"])]), ("Other subsites", extras(w, [NI_X["subsites"], NI_X["subsites"]], scale=1.1)),
                ("Orbits and temporal bones", extras(w, [NI_X["orbits"], NI_X["mastoids"]]))]
    extra = {"thyroid_ct": ["lookalike:thyroid_on_ct"]} if ctx.lookalike else None
    findings += body_paragraphs(w, ["salivary", "thyroid_ct", "neck_vessels", "skull_base", "lung_apices", "cspine"], unit=ctx.unit, p_incidental=0.2,
                                allowed={"skull_base:sinus", "cspine:spondylosis"}, extra=extra)
    exam = w.say(EXAM_NI)
    if "PET" in exam:
        findings.append(("Body", [w.say(NI_X["pet_body"])] + extras(w, [NI_X["pet_body"]])))
    findings = [(h, list(dict.fromkeys(x))) for h, x in findings if x]
    return Draft(exam, target, history=[w.say(HIST_NI, **s)], technique=[w.say(TECH_NI["pet" if "PET" in exam else "ct"], **s)], findings=findings,
                 impression=[w.say(IMP_NI[target], **s), w.say(NI["neck"])][: 1 + (r.random() < 0.4)], recommendation=[w.say(REC_NI[target])],
                 prior_exam=r.choice(("post-treatment CT neck", "PET/CT", "neck CT")), anchor=0, lookalike_used=ctx.lookalike,
                 features=dict(site=site))


# ================================================================================== VI-RADS

EXAM_VI = bank("exam.bladder", ("MULTIPARAMETRIC MRI BLADDER", "MRI pelvis (bladder protocol) with and without contrast", "mpMRI of the urinary bladder",
                                "MRI BLADDER WITH GADOLINIUM", "Bladder MRI, VI-RADS protocol"))
TECH_VI = bank("tech.bladder", (
    "3 T MRI after bladder filling: T2-weighted images in three planes, DWI (b 0-1000) with ADC, and dynamic contrast-enhanced T1-weighted imaging.",
    "Multiparametric bladder protocol with T2W, DWI/ADC and DCE; the patient voided two hours before and drank water to distend the bladder.",
    "High-resolution T2 (axial, sagittal, coronal), DWI and DCE sequences after {ml} mL gadolinium.", "Bladder MRI with T2-weighted, diffusion and perfusion imaging.",
    "Standard multiparametric bladder MRI.",
))
HIST_VI = bank("hist.bladder", ("Hematuria; bladder tumor on cystoscopy.", "Bladder mass seen at cystoscopy, pre-TURBT staging.", "{age}-year-old with painless gross hematuria and a bladder lesion.",
                                "New bladder tumor; assess muscle invasion.", "Cystoscopic finding of a papillary tumor on the {wall}.", "Bladder cancer, local staging before resection."))
VI = banks("bladder.f", {
    "distension": ("The bladder is adequately distended.", "Good bladder distension.", "Bladder distension is satisfactory.", "Adequate distension of the bladder.",
                   "The bladder is moderately well distended."),
    "intro": ("There is a {size} {morph} tumor on the {wall}.", "{Wall}: {size} {morph} lesion.", "A {size} {morph} bladder tumor arises from the {wall}.",
              "Lesion on the {wall} measuring {size} ({morph}).", "{size} {morph} tumor, {wall}.", "The {wall} harbors a {size} {morph} tumor."),
    "t2_1": ("On T2-weighted images the low-signal muscularis propria is uninterrupted; the lesion is exophytic on a stalk.", "T2W: intact low-signal muscle layer beneath a stalked lesion.",
             "Uninterrupted hypointense muscularis propria on T2.", "The muscle layer is preserved on T2 and the tumor has a stalk.", "T2: continuous dark muscle line; stalked exophytic lesion."),
    "t2_2": ("T2W: a stalk and a thickened high-signal inner layer separate the tumor from an uninterrupted muscularis propria.",
             "There is a high T2 signal thickened inner layer beneath the tumor; the muscularis propria is intact.", "T2: thickened inner layer, intact muscle.",
             "Intact low-signal muscularis propria with an interposed high-signal stalk.", "The tumor is separated from the muscle by a thickened submucosa; the muscle is uninterrupted."),
    "t2_3": ("T2W: broad-based tumor without a stalk or thickened inner layer; no clear disruption of the low-signal muscularis propria.",
             "Sessile tumor without a stalk or inner layer, but the muscle line is not clearly interrupted.", "T2: no stalk, no inner layer; muscularis propria appears intact.",
             "Broad-based lesion abutting an apparently intact muscle layer.", "The low-signal muscle line is not clearly disrupted beneath this sessile tumor."),
    "t2_4": ("T2W: intermediate-signal tumor interrupts the low-signal muscularis propria; no extension into the perivesical fat.",
             "The tumor disrupts the hypointense muscle layer on T2, without extravesical extension.", "T2: interruption of the muscularis propria.",
             "Tumor signal extends into the muscularis propria, which is interrupted.", "Loss of the low-signal muscle line beneath the tumor; perivesical fat preserved."),
    "t2_5": ("T2W: the tumor extends through the entire bladder wall into the perivesical fat.", "Extravesical extension into the perivesical fat on T2.",
             "Full-thickness wall involvement with perivesical fat stranding and tumor extension.", "The tumor breaches the bladder wall and invades the surrounding fat.",
             "Transmural tumor with extravesical extension."),
    "dwi_low": ("DWI: the tumor restricts but the inner layer and muscle show no restriction.", "Diffusion restriction limited to the tumor and stalk; the muscle is spared.",
                "DWI concordant: no restricted diffusion in the muscle layer.", "The muscularis is not involved on DWI.", "ADC: low in the tumor, normal in the wall."),
    "dwi_mid": ("DWI: no clear extension into the muscle layer.", "Diffusion findings are equivocal for muscle involvement.", "DWI without definite muscle restriction.",
                "Restricted diffusion abuts the muscle without clear extension.", "Equivocal DWI at the tumor base."),
    "dwi_high": ("DWI: restricted diffusion extends into the muscularis propria.", "The tumor's diffusion restriction extends through the muscle layer.",
                 "DWI confirms extension into the muscle.", "Restriction extends into the detrusor.", "High b-value signal extends into the muscle layer."),
    "dwi_extra": ("DWI: restricted diffusion extends into the perivesical fat.", "Diffusion restriction extends beyond the wall.", "DWI shows extravesical tumor.",
                  "Restricted diffusion in the perivesical tissues.", "Extravesical restricted diffusion."),
    "uvj": ("The ureterovesical junctions are unremarkable; no hydroureteronephrosis.", "No hydronephrosis.", "Both ureteric orifices are clear.",
            "The distal ureters are not dilated.", "No upper tract dilatation."),
})
VI_X = banks("bladder.x", {
    "rest": ("The remainder of the bladder wall is thin and smooth.", "No other bladder lesion.", "No additional papillary lesions.",
             "The rest of the bladder wall is normal.", "No second tumor is seen."),
    "diverticulum": ("No bladder diverticulum.", "No intradiverticular tumor.", "The bladder contour is smooth without diverticula.",
                     "No bladder stones.", "No bladder calculi or diverticula."),
    "fat": ("The perivesical fat is clean elsewhere.", "Perivesical fat planes are preserved away from the tumor.", "No perivesical stranding elsewhere.",
            "Clear fat planes around the bladder.", "The perivesical tissues are otherwise normal."),
    "ureteric_orifice": ("The tumor is remote from the ureteric orifices.", "The ipsilateral ureteric orifice is not involved.",
                         "No involvement of the ureteral orifices.", "The trigone is spared.", "Ureteric orifices are free."),
})
IMP_VI = banks("bladder.imp", {
    "low": ("Bladder tumor on the {wall}; muscle invasion unlikely.", "{size} papillary bladder tumor without features of muscle invasion.",
            "Non-muscle-invasive appearance of the {wall} tumor.", "Bladder tumor, muscle layer intact.", "Exophytic bladder tumor with an intact muscle layer."),
    "mid": ("Bladder tumor on the {wall}, equivocal for muscle invasion.", "Indeterminate muscle involvement by the {wall} tumor.",
            "{size} bladder tumor; muscle invasion cannot be excluded.", "Sessile bladder tumor, equivocal muscle invasion.", "Equivocal for muscle-invasive disease."),
    "high": ("Bladder tumor on the {wall} with muscle invasion.", "Muscle-invasive bladder tumor.", "{size} tumor invading the muscularis propria.",
             "Findings of muscle invasion by the {wall} tumor.", "Muscle-invasive disease of the {wall}."),
    "extra": ("Bladder tumor with extravesical extension.", "Tumor extends into the perivesical fat.", "{size} {wall} tumor with perivesical invasion.",
              "Locally advanced bladder tumor.", "Extravesical spread of the bladder tumor."),
})
REC_VI = banks("bladder.rec", {
    "low": ("TURBT as planned.", "Transurethral resection with detrusor sampling.", "Proceed with resection.", "Standard TURBT.", "Endoscopic resection."),
    "mid": ("TURBT including detrusor muscle; consider re-resection.", "Resection with adequate muscle sampling.", "Urology correlation; deep resection advised.",
            "TURBT with muscle in the specimen.", "Consider repeat resection if muscle is absent."),
    "high": ("Staging CT of the chest, abdomen and pelvis; urology-oncology referral.", "Complete staging and multidisciplinary discussion.", "Urologic oncology referral.",
             "Multidisciplinary tumor board review.", "Staging workup recommended."),
})
_WALLS = ("posterior wall", "left lateral wall", "right lateral wall", "trigone", "dome", "anterior wall")


def bladder(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    mm = r.randint(3, 9) if target == "1" else r.randint(11, 48)
    morph = {"1": "stalked papillary", "2": r.choice(("stalked papillary", "sessile")), "3": "sessile, broad-based", "4": r.choice(("sessile", "broad-based")),
             "5": r.choice(("infiltrative", "broad-based"))}[target]
    wall = r.choice(_WALLS)
    s = dict(size=size(mm, ctx.unit), morph=morph, wall=wall, Wall=wall[0].upper() + wall[1:], age=r.randint(50, 85), ml=r.choice((10, 12, 15)))
    dwi = {"1": "dwi_low", "2": "dwi_low", "3": "dwi_mid", "4": "dwi_high", "5": "dwi_extra"}[target]
    lesion = [w.say(VI["intro"], **s), w.say(VI[f"t2_{target}"]), w.say(VI[dwi])]
    group = {"1": "low", "2": "low", "3": "mid", "4": "high", "5": "extra"}[target]
    extra = {"pelvic_organs": ["lookalike:prostate_on_ct"]} if ctx.lookalike else None
    lesion += extras(w, [VI_X["rest"], VI_X["diverticulum"]] + ([VI_X["fat"]] if target != "5" else []) + ([VI_X["ureteric_orifice"]] if wall != "trigone" else []))
    findings = [("Bladder", [w.say(VI["distension"])] + lesion), ("Ureters", [w.say(VI["uvj"])])]
    findings += body_paragraphs(w, ["pelvic_organs", "rectum", "pelvic_nodes", "pelvic_bones"], unit=ctx.unit, p_incidental=0.2,
                                allowed={"pelvic_organs:fibroid", "pelvic_organs:prostate"}, extra=extra)
    return Draft(w.say(EXAM_VI), target, history=[w.say(HIST_VI, **s)], technique=[w.say(TECH_VI, **s)], findings=findings,
                 impression=[w.say(IMP_VI[group], **s)], recommendation=[w.say(REC_VI["high" if group == "extra" else group])],
                 prior_exam="bladder MRI", anchor=0, lookalike_used=ctx.lookalike, features=dict(t2=target, size_mm=mm))


# ================================================================================== C-RADS

EXAM_C = banks("exam.ctc", {
    "full": ("CT COLONOGRAPHY", "CT colonography, screening", "VIRTUAL COLONOSCOPY (CT COLONOGRAPHY)", "CTC with fecal tagging", "Low-dose CT colonography",
             "CT COLONOGRAPHY, DIAGNOSTIC"),
    "extra": ("CT COLONOGRAPHY - EXTRACOLONIC FINDINGS", "CT colonography: extracolonic report", "CTC EXTRACOLONIC ASSESSMENT",
              "Extracolonic review, CT colonography", "CT colonography (extracolonic structures)"),
})
TECH_C = bank("tech.ctc", (
    "Bowel preparation with oral tagging agents. Automated CO2 insufflation via rectal catheter. Supine and prone low-dose acquisitions; 2D and 3D endoluminal review.",
    "Standard CTC protocol: cathartic preparation, barium and iodine tagging, CO2 distension, supine and prone scans.",
    "Low-dose supine and prone CT after colonic insufflation; primary 3D fly-through with 2D problem solving.",
    "Reduced-prep CT colonography with fecal tagging, two positions.", "CT colonography with carbon dioxide insufflation and tagging.",
))
HIST_C = bank("hist.ctc", ("Colorectal cancer screening, average risk.", "Incomplete optical colonoscopy (redundant sigmoid).", "{age}-year-old, screening.",
                           "Screening CT colonography; declined optical colonoscopy.", "Anemia; incomplete colonoscopy.", "Average-risk screening, no prior colon imaging."))
CR = banks("ctc.f", {
    "prep_good": ("Colonic distension and tagging are adequate in all segments.", "Adequate preparation and distension.", "Good distension and tagging throughout.",
                  "All colonic segments are well distended on at least one view.", "Preparation is good; distension adequate."),
    "inadequate": ("Colonic evaluation is inadequate: poor distension of the sigmoid colon and large amounts of untagged retained fluid and stool.",
                   "Suboptimal study: collapsed sigmoid and descending colon on both views and poor tagging.", "Inadequate preparation; large volumes of retained stool obscure the mucosa.",
                   "Nondiagnostic colonic evaluation due to poor distension.", "Retained untagged fluid limits evaluation of several segments."),
    "polyp": ("{size} {morph} polyp in the {seg}.", "There is a {size} {morph} polyp in the {seg}.", "{Seg}: {size} {morph} polyp.",
              "A {morph} polyp measuring {size} is seen in the {seg}.", "{size} {morph} soft-tissue polyp, {seg}, confirmed on both views.",
              "Polyp in the {seg} ({morph}, {size})."),
    "no_polyp": ("No colonic polyps or masses.", "No polyp of 6 mm or larger.", "No polyps or masses are identified.", "The colon is free of polyps.",
                 "No significant colonic lesion."),
    "mass": ("Annular, constricting mass with shouldered margins in the {seg}, likely malignant.", "{size} polypoid mass in the {seg} with apple-core morphology.",
             "Circumferential mass of the {seg} with luminal narrowing, consistent with carcinoma.", "Large {size} mass in the {seg}, likely malignant.",
             "Irregular mass in the {seg} causing luminal narrowing."),
    "diverticulosis": ("Sigmoid diverticulosis.", "Scattered diverticula in the sigmoid colon.", "Left-sided diverticulosis without diverticulitis.",
                       "Diverticular disease of the sigmoid.", "Diverticulosis."),
    "lipoma": ("{size} submucosal lipoma at the ileocecal valve (fat attenuation).", "Fatty ileocecal valve.", "{size} fat-density submucosal lesion in the {seg}, a lipoma.",
               "Lipomatous ileocecal valve.", "Benign {size} lipoma in the {seg}."),
    "separate": ("The colonic findings are reported separately.", "Colonic findings are described in a separate report.", "See the separate report for colonic findings.",
                 "This report addresses extracolonic structures only.", "Colonic evaluation is reported separately."),
    "E0": ("Evaluation of the extracolonic structures is severely limited by low-dose technique and streak artifact.",
           "Extracolonic evaluation is severely limited by beam-hardening artifact from bilateral hip prostheses.", "Extracolonic structures are not adequately evaluated.",
           "Severe noise limits extracolonic assessment.", "Limited extracolonic evaluation."),
    "E1_variant": ("Retroaortic left renal vein, a normal variant.", "Circumaortic left renal vein, a normal variant.", "Duplicated IVC, a normal variant.",
                   "Accessory spleen.", "Bifid renal pelvis on the {side}, a normal variant."),
    "E3": ("Minimally complex {side} renal cyst ({size}), likely benign but incompletely characterized.",
           "Indeterminate {size} hypoattenuating hepatic lesion, likely a cyst, too small to characterize on this low-dose study.",
           "{size} homogeneous hyperattenuating {side} renal lesion, likely a hemorrhagic cyst, incompletely characterized.",
           "{size} adrenal nodule on the {side}, indeterminate on this noncontrast study.", "Indeterminate {size} pancreatic cystic lesion."),
    "E4": ("{big} solid enhancing {side} renal mass.", "{big} infrarenal abdominal aortic aneurysm.", "Enlarged retroperitoneal lymph nodes up to {size}.",
           "{big} solid {side} adrenal mass.", "{big} solid mass in the {side} ovary.", "Spiculated {size} nodule in the {side} lower lobe."),
})
IMP_C = banks("ctc.imp", {
    "C0": ("Inadequate study.", "Nondiagnostic CT colonography.", "Colonic evaluation inadequate.", "Limited examination; results indeterminate.", "Incomplete colonic evaluation."),
    "C1": ("No colonic polyps 6 mm or larger.", "Normal colon.", "No clinically significant colonic lesion.", "Negative CT colonography.", "No polyp or mass."),
    "C2": ("{count} intermediate polyp{plural} (6-9 mm).", "Small polyp{plural} in the colon as described.", "Intermediate-size colonic polyp{plural}.",
           "{size} polyp, {seg}.", "Colonic polyp{plural} measuring less than 10 mm."),
    "C3": ("Colonic polyp{plural} requiring removal.", "Polyp 10 mm or larger or three or more intermediate polyps.", "Large polyp in the {seg}.",
           "{count} polyp{plural} as described, possibly advanced adenoma.", "Significant colonic polyp{plural}."),
    "C4": ("Colonic mass, likely malignant.", "Mass in the {seg} concerning for carcinoma.", "Likely colon cancer in the {seg}.", "Malignant-appearing colonic mass.",
           "Constricting mass, {seg}."),
    "E0": ("Extracolonic evaluation limited.", "Limited extracolonic assessment.", "Inadequate extracolonic evaluation.", "Extracolonic structures not evaluable.",
           "Extracolonic findings cannot be assessed."),
    "E1": ("No extracolonic abnormality.", "Normal extracolonic structures.", "No significant extracolonic finding.", "Extracolonic findings: normal or variant only.",
           "Unremarkable extracolonic evaluation."),
    "E2": ("Clinically unimportant extracolonic findings.", "Benign extracolonic findings.", "No important extracolonic finding.", "Incidental benign findings only.",
           "Extracolonic findings of no clinical importance."),
    "E3": ("Indeterminate extracolonic finding, likely benign.", "Likely unimportant but incompletely characterized extracolonic finding.",
           "Indeterminate lesion as described.", "Probably benign extracolonic lesion, incompletely characterized.", "Indeterminate incidental finding."),
    "E4": ("Potentially important extracolonic finding.", "Significant extracolonic finding requiring follow-up.", "Important incidental finding as described.",
           "Extracolonic abnormality needing further evaluation.", "Clinically important extracolonic finding."),
})
REC_C = banks("ctc.rec", {
    "C0": ("Repeat CT colonography or optical colonoscopy.", "Repeat study after improved preparation.", "Colonoscopy recommended.", "Consider repeat examination.",
           "Repeat CTC with better preparation."),
    "C1": ("Routine screening in 5 years.", "Next screening in five years.", "Rescreen in 5 years.", "Continue routine screening.", "Routine interval screening."),
    "C2": ("Surveillance CT colonography in 3 years or colonoscopy.", "Colonoscopy or 3-year surveillance CTC.", "Three-year follow-up or polypectomy.",
           "Consider colonoscopy.", "Surveillance or colonoscopy per patient preference."),
    "C3": ("Colonoscopy with polypectomy.", "Referral for colonoscopy.", "Optical colonoscopy recommended.", "Polypectomy advised.", "Colonoscopic removal recommended."),
    "C4": ("Surgical consultation and staging.", "Colonoscopy with biopsy and surgical referral.", "Tissue diagnosis and staging.", "Urgent colonoscopy.",
           "Surgical and oncologic referral."),
    "E": ("Further evaluation as clinically appropriate.", "Dedicated imaging of this finding is suggested.", "Work-up as clinically indicated.", "Further imaging may be considered.",
          "Clinical correlation and follow-up imaging."),
    "E12": ("No further evaluation needed.", "No work-up required.", "No follow-up needed for extracolonic findings.", "No recommendation.", "No additional imaging."),
})
_CSEGS = ("cecum", "ascending colon", "hepatic flexure", "transverse colon", "descending colon", "sigmoid colon", "rectum")
_MORPH = ("sessile", "pedunculated", "flat", "sessile")


def colon(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    s = dict(age=r.randint(45, 75), side=_side(r), size=size(r.randint(8, 25), ctx.unit), big=size(r.randint(30, 60), ctx.unit), seg=r.choice(_CSEGS))
    s["Seg"] = s["seg"].capitalize()
    history = [w.say(HIST_C, **s)]
    technique = [w.say(TECH_C)]
    if target.startswith("E"):
        organs = [o for o in ABDOMEN_ORGANS if o not in ("bowel",)]
        paras = body_paragraphs(w, organs, unit=ctx.unit, p_incidental=0.0)
        found: list[str] = []
        if target == "E0":
            found = [w.say(CR["E0"])]
        elif target == "E1":
            found = w.maybe(0.6, CR["E1_variant"], **s)
        elif target == "E2":
            pass
        else:
            found = [w.say(CR[target], **s)]
        if target in ("E2", "E3", "E4"):
            # benign, clinically unimportant findings (E2) replace some organs' normal statements;
            # in an E3/E4 report the more important finding decides
            kinds = ["liver:cyst", "kidneys:cyst", "gallbladder:stones", "abd_wall:hernia", "bones:hemangioma", "kidneys:stone"]
            n = r.choice((1, 1, 2)) if target == "E2" else r.choice((0, 1))
            for kind in r.sample(kinds, n):
                i = organs.index(kind.split(":")[0])
                paras[i] = organ_paragraph(w, organs[i], [kind], ctx.unit)
        findings = [(None, [w.say(CR["separate"])])] + ([("Extracolonic", found)] if found else []) + paras
        return Draft(w.say(EXAM_C["extra"]), target, history=history, technique=technique, findings=findings,
                     impression=[w.say(IMP_C[target], **s)], recommendation=[w.say(REC_C["E" if target in ("E3", "E4") else "E12"])],
                     prior_exam="CT colonography", anchor=1 if found else 0, features=dict(section="extracolonic"))
    for _ in range(4000):
        inadequate = r.random() < 0.1
        mass = not inadequate and r.random() < 0.12
        polyps = [r.choice((3, 4, 5, 6, 7, 8, 9, 11, 14, 18)) for _ in range(r.choice((0, 1, 1, 2, 3)))]
        if inadequate:  # an inadequate study describes no polyp
            polyps, mass = [], False
        if rules.c_rads_colon(polyps, mass, inadequate) == target:
            break
    else:
        raise RuntimeError(target)
    colonic: list[str] = []
    if inadequate:
        colonic = [w.say(CR["inadequate"])]
    else:
        colonic = [w.say(CR["prep_good"])]
        if mass:
            colonic.append(w.say(CR["mass"], **s))
        for mm in polyps:
            seg = r.choice(_CSEGS)
            colonic.append(w.say(CR["polyp"], size=size(mm, "mm"), morph=r.choice(_MORPH), seg=seg, Seg=seg.capitalize()))
        if not polyps and not mass:
            colonic.append(w.say(CR["no_polyp"]))
        colonic += w.maybe(0.3, CR["diverticulosis"])
        if target == "C1" and r.random() < 0.2:
            colonic.append(w.say(CR["lipoma"], **s))
    big = max(polyps, default=0)
    extra = {}
    if ctx.lookalike:
        extra = {r.choice(("pelvic_organs", "bladder")): [r.choice(("lookalike:adnexa_on_ct", "lookalike:bladder_on_ct", "lookalike:prostate_on_ct"))]}
    extracolonic = body_paragraphs(w, [o for o in ABDOMEN_ORGANS if o != "bowel"], unit=ctx.unit, p_incidental=0.12,
                                   allowed={"liver:cyst", "kidneys:cyst", "gallbladder:stones", "abd_vessels:atherosclerosis", "bones:degenerative"}, extra=extra)
    plural = "s" if len(polyps) > 1 else ""
    imp = [w.say(IMP_C[target], count=len(polyps) or 1, plural=plural, size=size(big, "mm") if big else s["size"], seg=s["seg"])]
    findings = [("Colon", colonic)] + [(None, [])] + extracolonic
    findings = [f for f in findings if f[1]]
    return Draft(w.say(EXAM_C["full"]), target, history=history, technique=technique, findings=findings, impression=imp,
                 recommendation=[w.say(REC_C[target])], prior_exam="CT colonography", anchor=0, lookalike_used=bool(extra),
                 features=dict(section="colonic", polyps=polyps, mass=mass, inadequate=inadequate))


assert set(SYSTEMS["C-RADS"]) == {"C0", "C1", "C2", "C3", "C4", "E0", "E1", "E2", "E3", "E4"}
