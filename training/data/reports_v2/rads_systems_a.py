"""v2 RADS writers, part A: BI-RADS, LI-RADS, TI-RADS, Lung-RADS, PI-RADS.

Each writer gets a target category and writes a full report whose described features give that
category by the rule in ``training/data/rads_rules.py`` (where the rule is encoded there) or by the
lexicon's defining finding (BI-RADS 0/1/2/3/5/6, LI-RADS LR-1/2/M/TIV/NC, Lung-RADS 0/1). BI-RADS
4/4A/4B/4C are a radiologist's judgement: their reports always state the category.
"""

from __future__ import annotations

import random
from typing import Callable

from training.data import rads_rules as rules
from training.data.reports_v2.anatomy import CHEST_ORGANS, LOBES, body_paragraphs, extras
from training.data.reports_v2.phrasing import bank, banks, dims, size
from training.data.reports_v2.rads_base import Ctx, Draft


def _side(r: random.Random) -> str:
    return r.choice(("right", "left"))


def retry(r: random.Random, target: str, sample: Callable[[], Draft], tries: int = 4000) -> Draft:
    for _ in range(tries):
        d = sample()
        if d.category == target:
            return d
    raise RuntimeError(f"could not sample category {target}")


# ================================================================================== BI-RADS

EXAM_BR = banks("exam.breast", {
    "screen": ("SCREENING MAMMOGRAM, BILATERAL", "Bilateral screening mammography with tomosynthesis",
               "MAMMOGRAPHY SCREENING BILATERAL (2D AND DBT)", "Digital screening mammogram of both breasts",
               "SCREENING DIGITAL BREAST TOMOSYNTHESIS, BILATERAL", "Mammogram, bilateral, screening"),
    "diag": ("DIAGNOSTIC MAMMOGRAM AND ULTRASOUND, {SIDE} BREAST", "Diagnostic mammography and targeted ultrasound of the {side} breast",
             "{SIDE} DIAGNOSTIC MAMMOGRAM WITH ULTRASOUND", "Bilateral diagnostic mammogram and {side} breast ultrasound",
             "MAMMOGRAM DIAGNOSTIC {SIDE} AND US {SIDE} BREAST LIMITED", "Diagnostic breast imaging, {side}: mammography and ultrasound"),
    "us": ("ULTRASOUND {SIDE} BREAST", "Targeted ultrasound of the {side} breast", "{SIDE} BREAST ULTRASOUND, LIMITED",
           "US BREAST {SIDE} TARGETED", "Breast ultrasound, {side}"),
    "mri": ("MRI BREASTS BILATERAL WITH AND WITHOUT CONTRAST", "Bilateral breast MRI with gadolinium", "DYNAMIC CONTRAST-ENHANCED MRI OF BOTH BREASTS",
            "Contrast-enhanced MRI of the breasts", "BREAST MRI, BILATERAL, PRE- AND POST-CONTRAST"),
})
TECH_BR = banks("tech.breast", {
    "screen": ("Standard CC and MLO views of both breasts were obtained with digital breast tomosynthesis.",
               "Bilateral CC and MLO synthesized 2D and tomosynthesis images. Computer-aided detection was applied.",
               "Routine four-view digital mammogram with ((3D tomosynthesis|DBT)).",
               "Craniocaudal and mediolateral oblique views of each breast were acquired.",
               "Screening protocol: two views per breast, tomosynthesis, CAD reviewed."),
    "diag": ("{SIDE} CC and MLO views with spot compression ((and magnification|)) views, followed by targeted ultrasound.",
             "Diagnostic views of the {side} breast including ((spot compression|spot magnification)) views. Real-time ultrasound was performed by the radiologist.",
             "Full-field digital diagnostic mammogram with additional ML and spot compression views; targeted sonography of the area of concern.",
             "Mammographic workup with true lateral and spot views, then high-frequency linear-array ultrasound.",
             "Additional mammographic views and focused ultrasound of the {side} breast."),
    "us": ("Targeted grayscale and color Doppler ultrasound of the {side} breast with a high-frequency linear transducer.",
           "Real-time ultrasound of the {side} breast ((and axilla|)) was performed.",
           "Focused sonographic evaluation of the {side} breast at the site of concern.",
           "Handheld ultrasound, {side} breast, radial and antiradial planes.",
           "Ultrasound of the area of clinical concern in the {side} breast."),
    "mri": ("Axial T1-weighted, fat-suppressed T2-weighted and dynamic contrast-enhanced T1-weighted images before and after gadolinium with subtractions and kinetic analysis.",
            "Bilateral breast MRI on a dedicated breast coil: T2W, DWI and dynamic post-contrast sequences.",
            "Dedicated breast coil; STIR, pre-contrast T1 and five dynamic post-gadolinium acquisitions with MIP reconstructions.",
            "MRI of both breasts with multiphase dynamic enhancement after intravenous gadobutrol.",
            "Standard breast MRI protocol including dynamic contrast-enhanced imaging."),
})
HIST_BR = banks("hist.breast", {
    "screen": ("Routine screening. No breast complaints.", "Annual screening mammogram; family history of breast cancer in a sister.",
               "{age}-year-old woman, asymptomatic, screening.", "Screening. Patient reports no lumps or nipple discharge.",
               "Baseline screening mammogram.", "Annual screening; history of benign biopsy in the {side} breast."),
    "diag": ("Palpable lump in the {side} breast.", "Callback from screening for a possible abnormality in the {side} breast.",
             "{age}-year-old woman with a new {side} breast lump for two weeks.", "Focal pain and a palpable area of thickening, {side} breast.",
             "Recall from screening mammogram, {side} breast finding.", "Clinical breast examination abnormality in the {side} breast."),
    "followup": ("Short-interval follow-up of a probably benign finding in the {side} breast.", "Six-month follow-up, {side} breast.",
                 "Follow-up of a {side} breast mass.", "Surveillance of a previously seen {side} breast finding.",
                 "Continued follow-up, {side} breast."),
    "cancer": ("Recently diagnosed {side} breast cancer; pretreatment evaluation.", "Biopsy-proven {cancer} of the {side} breast, extent of disease.",
               "New diagnosis of {side} breast {cancer} on core biopsy last week.", "{Cancer} of the {side} breast, staging before surgery.",
               "Known {side} breast malignancy, preoperative imaging."),
})
BR_LOC = banks("breast.loc", {
    "loc": ("{side} breast at {clock} o'clock, {dist} cm from the nipple", "{quad} of the {side} breast", "{side} breast, {quad}",
            "{side} breast {clock}:00 position, {dist} cm FN", "{side} {quad}", "{clock} o'clock {side} breast, {dist} cm from the nipple"),
})
BR = banks("breast.f", {
    "density": ("The breasts are {dens}.", "Breast composition: {dens} (ACR density category {letter}).", "Overall, the breast tissue is {dens}.",
                "The breast tissue is {dens} (density {letter}).", "Breast density category {letter}: {dens}.",
                "The breasts are {dens}, ACR category {letter}."),
    "negative": ("No suspicious mass, suspicious calcifications or architectural distortion in either breast.",
                 "There are no dominant masses, suspicious calcifications or areas of distortion.",
                 "No mammographic evidence of malignancy. The breasts are stable in appearance compared with prior studies.",
                 "Both breasts are symmetric without a suspicious finding.",
                 "No new mass, grouped calcifications or distortion.",
                 "There is no significant interval change; no suspicious abnormality is identified."),
    "recall_asym": ("A possible focal asymmetry is seen in the {loc} on the CC view only.",
                    "There is an asymmetry in the {loc}, seen on one view, which requires further evaluation.",
                    "Developing asymmetry in the {loc} not present on prior studies.",
                    "One-view asymmetry, {loc}.", "Possible asymmetry in the {loc} on the MLO view."),
    "recall_mass": ("There is a possible {size} mass in the {loc}, partially obscured by overlapping tissue.",
                    "A new equal-density mass in the {loc} measures approximately {size}.",
                    "Possible mass with obscured margins in the {loc}.", "Questionable {size} nodular density in the {loc}.",
                    "A rounded density is suggested in the {loc} on tomosynthesis."),
    "recall_distortion": ("Possible architectural distortion in the {loc}, seen on tomosynthesis.",
                          "Questionable area of architectural distortion in the {loc}.",
                          "Subtle distortion of the parenchymal architecture in the {loc} requires further evaluation.",
                          "There is a possible area of distortion in the {loc} on the CC view.",
                          "Possible distortion, {loc}."),
    "recall_calc": ("New grouped calcifications in the {loc} that require magnification views.",
                    "A small group of calcifications in the {loc} cannot be fully characterized on standard views.",
                    "Indeterminate calcifications in the {loc}.", "Cluster of faint calcifications in the {loc}, new.",
                    "A few new calcifications are seen in the {loc}."),
    "benign_popcorn": ("Coarse popcorn-like calcifications in the {loc}, consistent with an involuting fibroadenoma.",
                       "Stable coarse heterogeneous calcifications in the {side} breast, typical of a degenerating fibroadenoma.",
                       "Popcorn calcification in the {loc}, benign.", "Involuting calcified fibroadenoma, {loc}.",
                       "Dense coarse calcifications in a mass in the {loc}, benign in appearance."),
    "benign_cyst": ("At {clock} o'clock in the {side} breast there is a {size} simple cyst: anechoic, circumscribed, with posterior acoustic enhancement.",
                    "Simple cyst measuring {size} in the {loc}; oval, anechoic, imperceptible wall.",
                    "Several simple cysts in the {side} breast, the largest {size} at {clock} o'clock.",
                    "The palpable area corresponds to a {size} anechoic, circumscribed cyst with through transmission.",
                    "Ultrasound shows a {size} simple cyst in the {loc} corresponding to the mammographic finding."),
    "benign_lnode": ("Intramammary lymph node with a fatty hilum in the {loc}.", "A circumscribed reniform mass with a fatty hilum in the {loc}, an intramammary node.",
                     "Benign-appearing intramammary lymph node, {loc}.", "Small intramammary lymph node in the {side} upper outer quadrant, unchanged.",
                     "Typical intramammary node in the {loc}."),
    "benign_secretory": ("Bilateral large rod-like secretory calcifications.", "Large rod-like calcifications in a ductal distribution bilaterally, consistent with secretory disease.",
                         "Benign secretory calcifications in both breasts.", "Coarse rod-like calcifications, typical of secretory disease, both breasts.",
                         "Secretory-type calcifications are scattered bilaterally."),
    "benign_vascular": ("Vascular calcifications are noted bilaterally.", "Arterial calcifications in the {side} breast.",
                        "Scattered vascular calcifications.", "Parallel track vascular calcifications in both breasts.",
                        "Benign vascular calcifications, unchanged."),
    "benign_oilcyst": ("Oil cyst with rim calcification at the {side} lumpectomy site, stable.", "Fat necrosis with a lucent-centered oil cyst in the {loc}.",
                       "Stable postsurgical changes of the {side} breast with an oil cyst.", "Calcified oil cyst at the scar site in the {loc}.",
                       "Rim-calcified fat necrosis in the {side} breast."),
    "benign_lumpectomy": ("Postsurgical changes of {side} lumpectomy with skin thickening and architectural distortion at the scar, stable.",
                          "Stable post-lumpectomy scar in the {side} breast; no new finding.", "Expected post-treatment changes in the {side} breast, unchanged.",
                          "Lumpectomy site in the {loc} with stable scar and surgical clips.",
                          "Post-radiation trabecular thickening of the {side} breast, decreasing over time."),
    "benign_implants": ("Intact bilateral retropectoral silicone implants.", "Bilateral saline implants, intact.",
                        "Subglandular implants without evidence of rupture.", "Breast implants are intact.",
                        "Implant-displaced views performed; the implants are intact."),
    "benign_stable": ("The circumscribed {size} oval mass in the {loc} is unchanged for three years.",
                      "Stable {size} circumscribed mass in the {loc}, unchanged over two years of follow-up.",
                      "The previously followed oval mass in the {loc} remains stable in size and appearance over more than two years.",
                      "Oval circumscribed mass in the {loc}, stable since the baseline examination three years ago.",
                      "Long-term stable {size} mass, {loc}."),
    "pb_mass": ("At {clock} o'clock, {dist} cm from the nipple, there is a {size} oval, circumscribed, parallel, hypoechoic mass without posterior features. No prior imaging is available.",
                "Ultrasound shows an oval, parallel, circumscribed, homogeneously hypoechoic {size} solid mass in the {loc}, most consistent with a fibroadenoma.",
                "{size} oval circumscribed hypoechoic mass with its long axis parallel to the skin in the {loc}; no internal vascularity.",
                "Solid, oval, well-circumscribed mass measuring {size} in the {loc}, wider than tall, likely a fibroadenoma.",
                "The palpable area corresponds to a {size} oval parallel mass with circumscribed margins, probably a fibroadenoma."),
    "pb_calcs": ("A single group of round and punctate calcifications in the {loc}, new on this baseline study.",
                 "Magnification views show a small cluster of punctate calcifications in the {loc}.",
                 "Grouped round calcifications in the {loc}, probably benign.", "Solitary group of punctate calcifications, {loc}.",
                 "A few round calcifications grouped within 5 mm in the {loc}."),
    "pb_asym": ("The focal asymmetry in the {loc} persists on spot compression views without mass or distortion and has no sonographic correlate.",
                "Spot compression shows a focal asymmetry of the {loc} with interspersed fat and no sonographic abnormality.",
                "Focal asymmetry, {loc}, without an associated finding on ultrasound.",
                "The asymmetry seen at screening persists as a focal asymmetry without distortion; targeted ultrasound is negative.",
                "Persistent focal asymmetry in the {loc} that partially effaces on spot views."),
    "pb_cyst": ("A {size} complicated cyst with homogeneous low-level internal echoes in the {loc}, no solid component or vascularity.",
                "Complicated cyst in the {loc} measuring {size}, with a fluid-debris level.",
                "{size} oval circumscribed mass with low-level echoes, likely a complicated cyst, {loc}.",
                "Solitary complicated cyst, {loc}.", "The finding corresponds to a {size} cyst with internal debris in the {loc}."),
    "susp_mass_low": ("A {size} oval, partially circumscribed hypoechoic mass with a focally indistinct margin in the {loc}.",
                      "{size} solid mass in the {loc}: oval, parallel, with a short segment of microlobulated margin.",
                      "Oval mass with mostly circumscribed margins and one indistinct margin, {loc}, {size}.",
                      "Complex cystic and solid mass measuring {size} in the {loc}.", "{size} palpable solid mass with slightly indistinct margins, {loc}."),
    "susp_calc_mid": ("Grouped amorphous calcifications spanning {size} in the {loc}.", "Fine pleomorphic calcifications in a grouped distribution over {size}, {loc}.",
                      "New grouped coarse heterogeneous calcifications in the {loc}.", "Cluster of amorphous calcifications, {loc}, extent {size}.",
                      "Indistinct amorphous calcifications grouped in the {loc}."),
    "susp_mass_mid": ("{size} irregular hypoechoic mass with indistinct margins in the {loc}.", "Irregular, not circumscribed solid mass in the {loc} measuring {size}.",
                      "Irregular mass with angular margins, {loc}, {size}.", "{size} round mass with indistinct margins and posterior shadowing in the {loc}.",
                      "Solid hypoechoic mass, irregular in shape, {size}, {loc}."),
    "susp_high": ("Fine pleomorphic calcifications in a linear distribution over {size} in the {loc}.",
                  "{size} irregular, nonparallel hypoechoic mass with angular margins and posterior shadowing in the {loc}.",
                  "Irregular mass with microlobulated margins and internal vascularity in the {loc}, {size}.",
                  "Linear fine pleomorphic calcifications extending {size} in the {loc}.",
                  "Taller-than-wide irregular mass with indistinct margins, {loc}, {size}."),
    "malignant": ("{size} irregular, spiculated, high-density mass in the {loc} with associated fine linear branching calcifications in a segmental distribution.",
                  "There is an irregular hypoechoic mass with spiculated margins and posterior acoustic shadowing measuring {size} in the {loc}; mammographically a spiculated high-density mass with fine linear calcifications.",
                  "Spiculated irregular mass, {size}, {loc}, with fine-linear branching calcifications extending toward the nipple.",
                  "Irregular high-density mass with spiculated margins in the {loc} ({size}), with associated segmental fine linear calcifications.",
                  "{size} spiculated mass with fine linear branching (casting) calcifications, {loc}."),
    "malignant_assoc": ("Associated skin thickening and nipple retraction.", "There is overlying skin retraction.",
                        "Associated trabecular and skin thickening.", "Nipple retraction is present.",
                        "The mass tethers the overlying skin."),
    "known_cancer": ("Biopsy-proven {cancer} in the {loc}: {size} irregular mass with the biopsy clip in place.",
                     "The known {cancer} in the {loc} measures {size}; the biopsy marker is within the mass.",
                     "Irregular mass at the site of the recent biopsy ({cancer}), {loc}, {size}, clip in good position.",
                     "Known malignancy in the {loc}, {size}, with a post-biopsy clip.",
                     "The biopsy-proven {cancer} corresponds to a {size} irregular spiculated mass, {loc}."),
    "axilla_normal": ("No suspicious axillary lymphadenopathy.", "Normal-appearing axillary lymph nodes with fatty hila.", "The {side} axilla is unremarkable.",
                      "Axillary nodes are normal in morphology.", "No suspicious axillary node on ultrasound."),
    "axilla_abnormal": ("An abnormal {side} axillary lymph node with cortical thickening to {cortex} mm and effaced fatty hilum.",
                        "Enlarged {side} axillary node with a thickened cortex ({cortex} mm).",
                        "Suspicious {side} level I axillary lymph node, round, with loss of the fatty hilum.",
                        "{Side} axillary node with eccentric cortical thickening of {cortex} mm.",
                        "Abnormal {side} axillary nodes, the largest with a {cortex} mm cortex."),
    "mri_bpe": ("Background parenchymal enhancement is ((minimal|mild)) and symmetric.", "BPE: ((mild|moderate)), symmetric.",
                "There is ((minimal|mild)) symmetric background enhancement.", "Background enhancement is minimal.",
                "Symmetric mild background parenchymal enhancement."),
    "mri_negative": ("No suspicious enhancing mass or non-mass enhancement.", "No abnormal enhancement in either breast.",
                     "There is no suspicious mass, focus or non-mass enhancement.", "No suspicious kinetics or enhancing lesions.",
                     "No enhancing lesion of concern in either breast."),
})
IMP_BR = banks("breast.imp", {
    "0": ("Possible {finding} in the {side} breast requires additional imaging evaluation.", "Incomplete assessment: {finding} in the {side} breast.",
          "Recall for diagnostic workup of a possible {finding}, {side} breast.", "{Finding} in the {side} breast, needs further evaluation.",
          "Screening finding in the {side} breast that requires diagnostic mammography and ultrasound."),
    "1": ("No mammographic evidence of malignancy.", "Negative screening mammogram.", "No suspicious findings in either breast.",
          "Negative bilateral mammogram.", "No evidence of malignancy."),
    "2": ("Benign findings. No mammographic evidence of malignancy.", "Benign findings as described.", "Benign {side} breast finding, no suspicious abnormality.",
          "No evidence of malignancy; benign findings only.", "Benign-appearing findings."),
    "3": ("Probably benign finding in the {side} breast.", "Probably benign {side} breast finding, likely a fibroadenoma or benign process.",
          "Finding in the {side} breast with a low likelihood of malignancy; short-interval follow-up.", "Probably benign lesion, {side} breast.",
          "Findings favor a benign process in the {side} breast, for short-term follow-up."),
    "susp": ("Suspicious {side} breast finding.", "Suspicious abnormality in the {side} breast; tissue diagnosis is recommended.",
             "{Side} breast lesion with suspicious features.", "Suspicious finding, {side} breast, for biopsy.",
             "Indeterminate to suspicious {side} breast finding."),
    "5": ("Findings highly suggestive of malignancy in the {side} breast.", "{Side} breast mass highly suggestive of carcinoma.",
          "Highly suspicious {side} breast mass with malignant calcifications.", "Malignant-appearing mass, {side} breast.",
          "Appearance is highly suspicious for breast carcinoma on the {side}."),
    "6": ("Known biopsy-proven malignancy of the {side} breast.", "Known {side} breast cancer without additional suspicious findings.",
          "Biopsy-proven malignancy, {side} breast; no additional disease identified.", "Known {side} breast carcinoma as described.",
          "Extent of known {side} breast cancer as above."),
})
REC_BR = banks("breast.rec", {
    "0": ("Diagnostic mammography with spot compression views and ultrasound of the {side} breast.", "Recall for additional imaging of the {side} breast.",
          "Additional imaging evaluation recommended: diagnostic mammogram and targeted ultrasound.", "Return for diagnostic workup of the {side} breast.",
          "Further evaluation with diagnostic views and ultrasound."),
    "1": ("Annual screening mammography.", "Routine screening mammogram in one year.", "Continue annual screening.",
          "Resume routine annual screening.", "Next screening mammogram in 12 months."),
    "3": ("Short-interval follow-up {side} breast ultrasound in 6 months.", "Follow-up diagnostic imaging of the {side} breast in six months.",
          "Six-month follow-up, then at 12 and 24 months if stable.", "Short-term follow-up in 6 months is recommended.",
          "Return in 6 months for a unilateral {side} diagnostic mammogram and ultrasound."),
    "biopsy": ("Ultrasound-guided core needle biopsy is recommended.", "Tissue sampling recommended; the patient was scheduled for biopsy.",
               "Recommend {side} breast {method} biopsy.", "Biopsy should be performed.", "Image-guided biopsy advised; results were discussed with the patient."),
    "6": ("Surgical and oncologic management as planned.", "Proceed with treatment as clinically planned.", "Management per the multidisciplinary breast team.",
          "No additional biopsy is needed; treatment as planned.", "Continue with planned surgical management."),
})
BR_X = banks("breast.x", {
    "risk": ("Family history: mother diagnosed with breast cancer at age {fam}.", "No hormone replacement therapy.",
             "Lifetime risk by the Tyrer-Cuzick model is {risk}%.", "Prior benign ((left|right)) breast biopsy ((fibroadenoma|fibrocystic change)) several years ago.",
             "Menarche at age 12; first live birth at age {fam2}.", "The patient reports no nipple discharge or skin change."),
    "skin": ("The skin and nipples are unremarkable.", "No skin thickening or nipple retraction.", "Skin, nipple and subareolar regions are normal.",
             "There is no skin or trabecular thickening.", "Nipple-areolar complexes are symmetric."),
    "cad": ("Computer-aided detection was reviewed.", "CAD marks were reviewed and dismissed.", "The images were evaluated with computer-aided detection.",
            "Synthesized 2D images and tomosynthesis slices were reviewed with CAD.", "CAD review performed."),
    "compare": ("Comparison was made with prior mammograms to assess stability.", "Current images were compared with all available prior examinations.",
                "Prior films were reviewed side by side.", "Comparison with the patient's prior studies shows no significant change elsewhere.",
                "The overall pattern is similar to prior examinations."),
    "informed": ("The results and recommendations were discussed with the patient at the time of the examination.", "The patient was informed of the findings in person.",
                 "A letter with these results will be sent to the patient.", "Findings were reviewed with the patient, who agrees with the plan.",
                 "The patient was given written results before leaving the department."),
    "density_notice": ("The patient will be notified of her breast density as required by regulation.", "Breast density notification letter sent.",
                       "Supplemental screening may be considered given breast density; discuss with the referring provider.",
                       "Dense breast tissue can make cancer harder to see on a mammogram; this has been communicated to the patient.",
                       "Density notification provided."),
    "us_detail": ("No internal vascularity on color Doppler.", "No posterior acoustic features.", "The surrounding tissues are normal.",
                  "There is no architectural distortion of the adjacent tissue.", "The finding is nontender to transducer pressure."),
    "contra": ("The contralateral breast is negative.", "No suspicious finding in the opposite breast.", "The other breast shows no abnormality.",
               "The contralateral breast is unremarkable.", "No suspicious abnormality on the contralateral side."),
})
_DENS = {"a": "almost entirely fatty", "b": "scattered areas of fibroglandular density",
         "c": "heterogeneously dense, which may obscure small masses", "d": "extremely dense, which lowers the sensitivity of mammography"}
_QUADS = ("upper outer quadrant", "upper inner quadrant", "lower outer quadrant", "lower inner quadrant", "retroareolar region", "central breast")
_CANCERS = ("invasive ductal carcinoma", "invasive lobular carcinoma", "ductal carcinoma in situ", "invasive mammary carcinoma")


def breast(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    side = _side(r)
    loc = w.frag(BR_LOC["loc"], side=side, quad=r.choice(_QUADS), clock=r.randint(1, 12), dist=r.randint(1, 12))
    sz = size(r.randint(5, 28), ctx.unit)
    letter = r.choice("abcd")
    dens = _DENS[letter]
    slots = dict(side=side, Side=side.capitalize(), SIDE=side.upper(), loc=loc, size=sz, clock=r.randint(1, 12), dist=r.randint(1, 12),
                 dens=dens, Dens=dens[0].upper() + dens[1:], letter=letter.upper() if r.random() < 0.5 else letter,
                 cancer=r.choice(_CANCERS), Cancer=r.choice(_CANCERS).capitalize(), cortex=r.randint(4, 9),
                 method=r.choice(("ultrasound-guided core", "stereotactic", "tomosynthesis-guided")), age=r.randint(40, 79))
    density = [w.say(BR["density"], **slots)]
    kind = {"0": "screen", "1": "screen", "2": r.choice(("screen", "diag", "us")), "3": r.choice(("diag", "us")),
            "5": "diag", "6": r.choice(("diag", "mri"))}.get(target, r.choice(("diag", "us")))
    exam = w.say(EXAM_BR[kind], **slots)
    technique = [w.say(TECH_BR[kind], **slots)]
    if target == "6":
        hist_kind = "cancer"
    elif kind == "screen":
        hist_kind = "screen"
    else:
        hist_kind = "followup" if target == "2" and r.random() < 0.3 else "diag"
    history = [w.say(HIST_BR[hist_kind], **slots)]
    heading_m, heading_u = r.choice(("Mammography", "Mammographic findings")), r.choice(("Ultrasound", "Sonographic findings", "Targeted ultrasound"))
    findings: list[tuple[str | None, list[str]]] = []
    impression: list[str] = []
    rec: list[str] = []
    feats: dict = {"exam": kind}
    if target == "0":
        key = r.choice(("recall_asym", "recall_mass", "recall_distortion", "recall_calc"))
        name = {"recall_asym": "asymmetry", "recall_mass": "mass", "recall_distortion": "architectural distortion", "recall_calc": "calcifications"}[key]
        findings = [(heading_m, density + [w.say(BR[key], **slots)])]
        impression = [w.say(IMP_BR["0"], finding=name, Finding=name.capitalize(), **{k: v for k, v in slots.items()})]
        rec = [w.say(REC_BR["0"], **slots)]
        feats["finding"] = key
    elif target == "1":
        findings = [(heading_m, density + [w.say(BR["negative"], **slots)])]
        impression = [w.say(IMP_BR["1"], **slots)]
        rec = [w.say(REC_BR["1"], **slots)]
    elif target == "2":
        pool = ("benign_popcorn", "benign_lnode", "benign_secretory", "benign_vascular", "benign_oilcyst", "benign_lumpectomy",
                "benign_implants", "benign_stable") if kind == "screen" else ("benign_cyst", "benign_lnode", "benign_stable", "benign_oilcyst")
        keys = r.sample(pool, r.choice((1, 1, 2)))
        text = [w.say(BR[k], **slots) for k in keys]
        findings = [(heading_m, density + text)] if kind == "screen" else (
            [(heading_u, text)] if kind == "us" else [(heading_m, density + [w.say(BR["negative"], **slots)]), (heading_u, text)])
        impression = [w.say(IMP_BR["2"], **slots)]
        rec = [w.say(REC_BR["1"], **slots)]
        feats["finding"] = keys
    elif target == "3":
        key = r.choice(("pb_mass", "pb_calcs", "pb_asym", "pb_cyst")) if kind == "diag" else r.choice(("pb_mass", "pb_cyst"))
        text = [w.say(BR[key], **slots)]
        findings = [(heading_u, text)] if kind == "us" else [(heading_m, density + (text if key in ("pb_calcs", "pb_asym") else [])),
                                                            (heading_u, text if key in ("pb_mass", "pb_cyst") else [w.say(BR["axilla_normal"], **slots)])]
        impression = [w.say(IMP_BR["3"], **slots)]
        rec = [w.say(REC_BR["3"], **slots)]
        feats["finding"] = key
    elif target == "5":
        text = [w.say(BR["malignant"], **slots)] + w.maybe(0.5, BR["malignant_assoc"], **slots)
        findings = [(heading_m, density + text[:1]), (heading_u, text[1:] + [w.say(BR["axilla_abnormal" if r.random() < 0.4 else "axilla_normal"], **slots)])]
        impression = [w.say(IMP_BR["5"], **slots)]
        rec = [w.say(REC_BR["biopsy"], **slots)]
    elif target == "6":
        text = [w.say(BR["known_cancer"], **slots)]
        if kind == "mri":
            findings = [("MRI", [w.say(BR["mri_bpe"], **slots)] + text), ("Contralateral breast", [w.say(BR["mri_negative"], **slots)])]
        else:
            findings = [(heading_m, density + text), (heading_u, [w.say(BR["axilla_normal"], **slots)])]
        impression = [w.say(IMP_BR["6"], **slots)]
        rec = [w.say(REC_BR["6"], **slots)]
    else:  # 4, 4A, 4B, 4C: features plus the stated assessment (the subcategory is the radiologist's call)
        key = {"4A": ("susp_mass_low",), "4B": ("susp_calc_mid", "susp_mass_mid"), "4C": ("susp_high",),
               "4": ("susp_mass_mid", "susp_calc_mid", "susp_mass_low")}[target]
        key = r.choice(key)
        text = [w.say(BR[key], **slots)]
        findings = [(heading_m, density + (text if "calc" in key else [])), (heading_u, (text if "calc" not in key else []) + [w.say(BR["axilla_normal"], **slots)])]
        impression = [w.say(IMP_BR["susp"], **slots)]
        rec = [w.say(REC_BR["biopsy"], **slots)]
        feats["finding"] = key
    if findings:
        last = findings[-1][1]
        last += extras(w, [BR_X["us_detail"]] if kind in ("us", "diag") and target in ("3", "4", "4A", "4B", "4C") else [], scale=0.8)
        if target != "5":
            findings.append((r.choice(("Skin", "Skin and nipples")), extras(w, [BR_X["skin"]], scale=1.3)))
        findings.append((r.choice(("Contralateral breast", "Other breast")), extras(w, [BR_X["contra"]] if kind in ("diag", "us") else [], scale=1.0)))
        findings[:] = [(h, s) for h, s in findings if s]
    history += extras(w, [BR_X["risk"]], scale=1.2, fam=r.randint(40, 70), fam2=r.randint(22, 36), risk=r.randint(8, 30))
    technique += extras(w, [BR_X["cad"]] if kind == "screen" else [], scale=1.2)
    rec += extras(w, [BR_X["informed"]] if kind != "screen" else [], scale=1.0)
    rec += extras(w, [BR_X["density_notice"]] if letter in "cd" and kind == "screen" else [], scale=1.0)
    if ctx.lookalike and kind == "mri":
        findings.append(("Other", [w.say("lookalike.liver_lesion_noncirrhotic", small=size(r.randint(5, 12), ctx.unit))]))
    prior = {"screen": "screening mammogram", "diag": "mammogram", "us": "breast ultrasound", "mri": "breast MRI"}[kind]
    if target == "3":
        prior = ""  # a probably benign finding is a new one (its text may say "no prior imaging")
    feats["needs_prior"] = target == "1" or "benign_stable" in feats.get("finding", ())
    return Draft(exam, target, history=history, technique=technique, findings=findings, impression=impression, recommendation=rec,
                 prior_exam=prior, anchor=len(findings) - 1, features=feats, lookalike_used=ctx.lookalike and kind == "mri")


# ================================================================================== LI-RADS

EXAM_LI = banks("exam.liver", {
    "mri": ("MRI ABDOMEN WITH AND WITHOUT CONTRAST (LIVER PROTOCOL)", "MRI liver with gadoxetate disodium", "Multiphasic contrast-enhanced MRI of the liver",
            "MR LIVER DYNAMIC, HCC SURVEILLANCE", "MRI upper abdomen, liver mass protocol"),
    "ct": ("CT ABDOMEN MULTIPHASE LIVER PROTOCOL", "Triple-phase CT of the liver", "CT liver, arterial, portal venous and delayed phases",
           "MULTIPHASIC CT ABDOMEN (HCC PROTOCOL)", "Contrast-enhanced four-phase CT of the liver"),
})
TECH_LI = banks("tech.liver", {
    "mri": ("T2-weighted, in- and opposed-phase T1-weighted, diffusion-weighted and dynamic post-contrast images in the late arterial, portal venous and transitional phases, with hepatobiliary phase at 20 minutes.",
            "Standard liver protocol at ((1.5|3)) T with {agent}: precontrast, late arterial, portal venous and delayed phases; DWI b 50/800.",
            "Multiplanar multisequence MRI of the liver before and after intravenous {agent}.",
            "Axial and coronal T2, DWI, dual-echo T1 and dynamic T1 fat-suppressed images after {agent}.",
            "Dynamic contrast-enhanced liver MRI ({agent}), with subtraction images."),
    "ct": ("Unenhanced, late arterial, portal venous and 3-minute delayed phase images of the liver after {ml} mL of intravenous contrast.",
           "Multiphase CT of the abdomen: noncontrast, bolus-tracked late arterial, portal venous and delayed phases.",
           "Four-phase liver CT with {ml} mL iodinated contrast; coronal reformats.",
           "Liver protocol CT with arterial, venous and equilibrium phases.",
           "Triphasic acquisition following the intravenous injection of {ml} mL contrast medium."),
})
HIST_LI = bank("hist.liver", (
    "Cirrhosis secondary to {cause}. HCC surveillance.", "{Cause} cirrhosis, surveillance for hepatocellular carcinoma.",
    "Chronic hepatitis B. Surveillance; AFP {afp} ng/mL.", "Cirrhosis ({cause}); new observation on surveillance ultrasound.",
    "{age}-year-old with {cause} cirrhosis, Child-Pugh A, HCC screening.", "Liver cirrhosis, rising AFP ({afp} ng/mL).",
    "Follow-up of a liver observation in a patient with {cause} cirrhosis.",
))
LI = banks("liver.f", {
    "background": ("The liver is cirrhotic with a nodular contour and caudate lobe hypertrophy.", "Cirrhotic liver morphology with surface nodularity.",
                   "The liver is small and nodular, consistent with cirrhosis.", "Morphologic changes of cirrhosis with widened fissures.",
                   "Nodular hepatic contour and hypertrophy of the left and caudate lobes, in keeping with cirrhosis.",
                   "Cirrhotic liver. Heterogeneous parenchymal enhancement."),
    "portal_htn": ("Splenomegaly ({spleen} cm) with gastroesophageal varices.", "Sequelae of portal hypertension: splenomegaly and splenorenal collaterals.",
                   "Small volume perihepatic ascites. Enlarged spleen.", "Recanalized paraumbilical vein and esophageal varices.",
                   "Mild splenomegaly; no ascites.", "Portosystemic collaterals in the left upper quadrant."),
    "portal_patent": ("The portal and hepatic veins are patent.", "Patent main, right and left portal veins.", "No portal vein thrombosis.",
                      "Hepatic vasculature is patent.", "The portal venous system is patent without filling defect."),
    "obs_intro": ("In segment {seg} there is a {size} observation.", "A {size} observation is present in hepatic segment {seg}.",
                  "Observation 1: segment {seg}, {size}.", "Segment {seg}: {size} observation.",
                  "There is a {size} nodular observation in segment {seg} of the liver.", "{size} lesion in segment {seg}."),
    "obs_features": ("It shows {aphe}, {washout} and {capsule}.", "The observation demonstrates {aphe}; there is {washout} and {capsule}.",
                     "Features: {aphe}; {washout}; {capsule}.", "It has {aphe}, with {washout} and {capsule} on the later phases.",
                     "On dynamic imaging it shows {aphe}, {washout}, {capsule}.", "Enhancement: {aphe}. Later phases: {washout}, {capsule}."),
    "aphe_yes": ("nonrim arterial phase hyperenhancement", "nonrim APHE", "homogeneous arterial phase hyperenhancement that is not rim-like",
                 "avid nonrim enhancement in the late arterial phase", "diffuse (nonrim) arterial hyperenhancement"),
    "aphe_no": ("no arterial phase hyperenhancement", "no APHE (isoenhancing in the arterial phase)", "hypoenhancement in the arterial phase",
                "no arterial hyperenhancement", "arterial phase isoenhancement"),
    "washout_yes": ("nonperipheral washout in the portal venous phase", "washout appearance on portal venous and delayed images",
                    "nonperipheral washout", "hypoenhancement relative to liver on the portal venous phase (washout)",
                    "washout in the portal venous phase, persisting on delayed images"),
    "washout_no": ("no washout", "no washout appearance", "persistent isoenhancement without washout", "no washout on later phases",
                   "no nonperipheral washout"),
    "capsule_yes": ("an enhancing capsule", "a smooth enhancing capsule", "an enhancing capsule on the delayed phase",
                    "a peripheral rim of smooth enhancement (capsule)", "capsule appearance"),
    "capsule_no": ("no enhancing capsule", "no capsule", "no capsule appearance", "no capsular enhancement", "no enhancing rim"),
    "growth_threshold": ("It measured {prior} on the MRI {months} months ago, an increase of more than 50%.",
                         "Interval growth from {prior} {months} months earlier.", "Previously {prior} ({months} months ago); now larger.",
                         "On the study {months} months ago it measured {prior}.", "This represents growth from {prior} over {months} months."),
    "growth_sub": ("It measured {prior} {months} months ago.", "Minimal change from {prior} {months} months earlier.",
                   "Previously {prior} ({months} months ago).", "Slightly larger than {prior} on the exam {months} months ago.",
                   "Compared with {prior} {months} months prior."),
    "growth_stable": ("Unchanged in size from the prior study.", "Stable compared with prior imaging.", "No interval change in size.",
                      "It is stable in size.", "Similar in size to the previous examination."),
    "growth_none": ("No prior cross-sectional imaging is available for comparison.", "This is a new observation; no prior imaging.",
                    "Not seen on prior ultrasound; no prior CT or MRI.", "There is no prior imaging of this observation.",
                    "First detection on this study."),
    "ancillary": ("It is mildly to moderately T2 hyperintense with restricted diffusion.", "Mild-moderate T2 hyperintensity and diffusion restriction.",
                  "Restricted diffusion and mild T2 hyperintensity are present.", "Ancillary features: restricted diffusion, mosaic architecture.",
                  "There is intralesional fat and mild T2 hyperintensity."),
    "lr1": ("{size} simple cyst in segment {seg}: no enhancement and fluid signal on all sequences.",
            "{size} hemangioma in segment {seg} with peripheral discontinuous nodular enhancement and progressive centripetal fill-in.",
            "Segment {seg}: {size} focal fatty sparing, a typical pseudolesion.",
            "A {size} classic hemangioma in segment {seg}, bright on T2 with nodular peripheral enhancement.",
            "Simple hepatic cyst ({size}) in segment {seg}, definitely benign.",
            "Wedge-shaped arterial perfusion alteration in segment {seg} without a corresponding lesion on other phases."),
    "lr2": ("{size} probable small hemangioma in segment {seg} without a fully typical enhancement pattern.",
            "{size} probable cyst in segment {seg}, too small to fully characterize.",
            "Distinctive {size} nodule in segment {seg} without any major feature, most likely a regenerative nodule.",
            "Segment {seg}: {size} T1-hyperintense nodule without APHE or washout, probably a siderotic or dysplastic regenerative nodule.",
            "{size} observation in segment {seg} with features suggesting a benign entity but not definitive."),
    "lrm": ("{size} targetoid mass in segment {seg} with rim arterial phase hyperenhancement, peripheral washout and delayed central enhancement.",
            "Segment {seg}: {size} mass with rim APHE and targetoid restricted diffusion.",
            "Infiltrative {size} mass in segment {seg} with marked diffusion restriction and necrosis, without nonrim APHE.",
            "{size} lesion in segment {seg} with peripheral rim enhancement in the arterial phase and progressive central enhancement.",
            "A targetoid {size} observation in segment {seg}: rim enhancement, peripheral washout and targetoid appearance on DWI."),
    "tiv": ("Unequivocal enhancing soft tissue expands the {vein}, contiguous with an infiltrative segment {seg} mass.",
            "Enhancing tumor thrombus occludes the {vein}, with arterial phase enhancement and washout within the thrombus.",
            "Expansile enhancing soft tissue in the {vein}, consistent with tumor in vein.",
            "The {vein} is filled with enhancing soft tissue in continuity with a {size} segment {seg} mass.",
            "Tumor thrombus extends into the {vein}; the parent mass in segment {seg} measures {size}."),
    "nc": ("A {size} observation in segment {seg} cannot be characterized because {why}.",
           "Segment {seg}: {size} observation, not categorizable as {why}.", "{size} observation in segment {seg}; evaluation is limited because {why}.",
           "There is a {size} observation in segment {seg} that cannot be assessed since {why}.", "Uncharacterizable {size} observation, segment {seg}; {why}."),
})
IMP_LI = banks("liver.imp", {
    "major": ("Segment {seg} {size} observation as described.", "{size} segment {seg} observation in the cirrhotic liver.",
              "Segment {seg} observation with the features described.", "{size} observation, segment {seg}.", "Cirrhotic liver with a {size} segment {seg} observation."),
    "lr5": ("Findings diagnostic of hepatocellular carcinoma in segment {seg}.", "Segment {seg} observation meets criteria for HCC.",
            "{size} hepatocellular carcinoma, segment {seg}.", "Definite HCC in segment {seg}.", "Appearance consistent with HCC, segment {seg}."),
    "lr1": ("Benign segment {seg} finding.", "Definitely benign observation in segment {seg}.", "Segment {seg} lesion is benign.",
            "No suspicious observation; benign segment {seg} finding.", "Benign hepatic finding as described."),
    "lr2": ("Segment {seg} observation, probably benign.", "Probably benign {size} nodule, segment {seg}.", "Likely benign observation in segment {seg}.",
            "Small probably benign observation as described.", "Segment {seg} observation favored to be benign."),
    "lrm": ("Segment {seg} targetoid mass, probably or definitely malignant but not specific for HCC.", "Malignant-appearing segment {seg} mass, cholangiocarcinoma or combined HCC-CCA not excluded.",
            "Targetoid segment {seg} mass, non-HCC malignancy favored.", "Segment {seg} mass with features of non-HCC malignancy.",
            "{size} malignant-appearing segment {seg} mass, not typical of HCC."),
    "tiv": ("Tumor in vein involving the {vein}.", "Tumor thrombus in the {vein}.", "Malignant thrombus of the {vein}.",
            "Enhancing tumor in the {vein}.", "Tumor in vein, {vein}."),
    "nc": ("Segment {seg} observation cannot be categorized owing to image degradation.", "Noncategorizable segment {seg} observation.",
           "Indeterminate segment {seg} observation; technically limited study.", "Segment {seg} observation not assessable.",
           "Observation cannot be characterized on this examination."),
})
REC_LI = banks("liver.rec", {
    "surveillance": ("Return to routine surveillance in 6 months.", "Continue HCC surveillance with ultrasound in 6 months.",
                     "Routine surveillance imaging in 6 months.", "Resume surveillance.", "Surveillance in 6 months is appropriate."),
    "lr3": ("Repeat or alternative diagnostic imaging in 3 to 6 months.", "Follow-up multiphase MRI in 3-6 months.",
            "Short-interval follow-up imaging in 3-6 months.", "Repeat imaging in 3 to 6 months is suggested.",
            "Follow-up MRI in 3-6 months."),
    "lr4": ("Multidisciplinary discussion; repeat imaging in 3 months or biopsy.", "Recommend multidisciplinary discussion for consensus management.",
            "Short-term follow-up MRI in 3 months versus biopsy, per multidisciplinary review.", "Discussion at the liver tumor board is recommended.",
            "Consider biopsy or close follow-up in 3 months."),
    "lr5": ("Multidisciplinary discussion for management.", "Refer to the hepatology tumor board.", "Treatment planning per multidisciplinary liver team.",
            "No biopsy is needed for diagnosis; management per tumor board.", "Recommend multidisciplinary discussion; referral to hepatology."),
    "biopsy": ("Biopsy is recommended.", "Tissue sampling recommended for diagnosis.", "Recommend image-guided biopsy.",
               "Percutaneous biopsy suggested.", "Biopsy and multidisciplinary discussion are recommended."),
    "nc": ("Repeat multiphase imaging in 3 months.", "Repeat MRI with adequate arterial phase timing in 3 months.",
           "Recommend repeat or alternative imaging within 3 months.", "Repeat the study with an optimized protocol.",
           "Follow-up contrast-enhanced imaging in 3 months."),
})
_SEGS = ("II", "III", "IVa", "IVb", "V", "VI", "VII", "VIII")
_VEINS = ("right portal vein", "main portal vein", "left portal vein", "middle hepatic vein", "right hepatic vein")
_CAUSES = ("hepatitis C", "alcohol", "NASH", "hepatitis B", "MASLD", "alcohol-related liver disease")


def liver(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    kind = r.choice(("mri", "mri", "ct"))
    cause = r.choice(_CAUSES)
    seg = r.choice(_SEGS)
    base = dict(seg=seg, cause=cause, Cause=cause[0].upper() + cause[1:], afp=r.randint(3, 60), age=r.randint(45, 78),
                agent=r.choice(("gadoxetate disodium", "gadobutrol", "extracellular gadolinium contrast")), ml=r.choice((90, 100, 120)),
                spleen=round(r.uniform(13, 17), 1), vein=r.choice(_VEINS),
                why=r.choice(("the arterial phase is degraded by respiratory motion", "the portal venous phase was not acquired",
                              "all post-contrast phases are degraded by severe motion artifact")))
    exam = w.say(EXAM_LI[kind])
    technique = [w.say(TECH_LI[kind], **base)]
    history = [w.say(HIST_LI, **base)]
    liver_para = [w.say(LI["background"], **base)]
    feats: dict = {}
    impression: list[str]
    rec: list[str]
    mm = r.randint(5, 45)
    sz = size(mm, ctx.unit)
    s = dict(base, size=sz)
    if target in ("LR-1", "LR-2", "LR-M", "LR-TIV", "LR-NC"):
        key = {"LR-1": "lr1", "LR-2": "lr2", "LR-M": "lrm", "LR-TIV": "tiv", "LR-NC": "nc"}[target]
        if target in ("LR-1", "LR-2"):
            s["size"] = size(r.randint(4, 18), ctx.unit)
        liver_para.append(w.say(LI[key], **s))
        impression = [w.say(IMP_LI[key], **s)]
        rec = [w.say(REC_LI[{"lr1": "surveillance", "lr2": "surveillance", "lrm": "biopsy", "tiv": "lr5", "nc": "nc"}[key]], **s)]
        feats["definition"] = key
        category = target
    else:
        # draw features until the v2018 table gives the target
        for _ in range(4000):
            aphe, size_mm, washout, capsule, growth = _li_feats(r)
            if rules.lirads_major(aphe, size_mm, washout, capsule, growth) == target:
                break
        else:
            raise RuntimeError(target)
        category = target
        feats = dict(aphe=aphe, size_mm=size_mm, washout=washout, capsule=capsule, growth=growth)
        s["size"] = size(size_mm, ctx.unit)
        liver_para.append(w.say(LI["obs_intro"], **s))
        liver_para.append(w.say(LI["obs_features"], aphe=w.frag(LI["aphe_yes" if aphe else "aphe_no"]),
                                washout=w.frag(LI["washout_yes" if washout else "washout_no"]),
                                capsule=w.frag(LI["capsule_yes" if capsule else "capsule_no"])))
        months = r.choice((3, 4, 5, 6))
        if growth:
            liver_para.append(w.say(LI["growth_threshold"], prior=size(max(3, round(size_mm / r.uniform(1.6, 2.3))), ctx.unit), months=months))
        else:
            how = r.choice(("none", "stable", "sub", "slow"))
            if how == "sub":
                liver_para.append(w.say(LI["growth_sub"], prior=size(max(3, round(size_mm / r.uniform(1.05, 1.35))), ctx.unit), months=months))
            elif how == "slow":  # >= 50% but over more than 6 months: not threshold growth
                liver_para.append(w.say(LI["growth_sub"], prior=size(max(3, round(size_mm / r.uniform(1.6, 2.0))), ctx.unit), months=r.choice((12, 14, 18, 24))))
            else:
                liver_para.append(w.say(LI["growth_stable" if how == "stable" else "growth_none"]))
            feats["growth_text"] = how
        if target in ("LR-4", "LR-5") and kind == "mri" and r.random() < 0.4:
            liver_para.append(w.say(LI["ancillary"]))  # ancillary features cannot move LR-4/LR-5
        impression = [w.say(IMP_LI["lr5" if target == "LR-5" and r.random() < 0.5 else "major"], **s)]
        rec = [w.say(REC_LI[{"LR-3": "lr3", "LR-4": "lr4", "LR-5": "lr5"}[target]])]
    if target != "LR-TIV":
        liver_para.append(w.say(LI["portal_patent"]))
    unit = ctx.unit
    findings = [("Liver", liver_para)]
    findings.append(("Spleen and portal system", [w.say(LI["portal_htn"], **base)]))
    findings += body_paragraphs(w, ["gallbladder", "pancreas", "adrenals", "kidneys", "abd_nodes", "bones"], unit=unit, p_incidental=0.2,
                                allowed={"gallbladder:stones", "kidneys:cyst", "kidneys:stone", "bones:degenerative", "bones:hemangioma"})
    if ctx.lookalike:
        findings.append(("Lung bases", [w.say("lookalike.lung_nodule_nonscreening", **_lung_slots(r, unit))]))
    # a described course needs a prior study in the comparison; "no prior imaging" forbids one
    feats["needs_prior"] = bool(feats.get("growth")) or feats.get("growth_text") in ("stable", "sub", "slow")
    no_prior = feats.get("growth_text") == "none"
    return Draft(exam, category, history=history, technique=technique, findings=findings, impression=impression, recommendation=rec,
                 prior_exam="" if no_prior else r.choice(("liver MRI", "multiphase CT", "MRI abdomen")), anchor=0, features=feats,
                 lookalike_used=ctx.lookalike, comparison=[w.say("comparison.none")] if no_prior and r.random() < 0.5 else None)


def _li_feats(r: random.Random) -> tuple[bool, int, bool, bool, bool]:
    return r.random() < 0.65, round(r.uniform(6, 45)), r.random() < 0.45, r.random() < 0.35, r.random() < 0.2


def _lung_slots(r: random.Random, unit: str) -> dict[str, str]:
    return {"tiny": size(r.randint(3, 6), unit), "lobe": r.choice(LOBES)}


# ================================================================================== TI-RADS

EXAM_TI = bank("exam.thyroid", ("ULTRASOUND THYROID", "US THYROID AND NECK", "Thyroid ultrasound", "Ultrasound of the thyroid gland",
                                "THYROID/SOFT TISSUE NECK ULTRASOUND", "Sonography of the thyroid"))
TECH_TI = bank("tech.thyroid", (
    "Grayscale and color Doppler ultrasound of the thyroid gland and central and lateral neck with a high-frequency linear transducer.",
    "Transverse and longitudinal images of both thyroid lobes and the isthmus, with Doppler.",
    "Real-time sonographic evaluation of the thyroid; nodules characterized using the ACR lexicon.",
    "High-resolution ultrasound of the thyroid and cervical lymph node stations.",
    "Thyroid and neck ultrasound, grayscale and color flow.",
))
HIST_TI = bank("hist.thyroid", (
    "Palpable thyroid nodule.", "Incidental thyroid nodule on CT of the chest.", "{age}-year-old with a neck lump, euthyroid.",
    "Follow-up of a known {side} thyroid nodule.", "Abnormal thyroid function tests; evaluate for nodules.", "Dysphagia and a sensation of a neck mass.",
    "Thyroid nodule found on carotid ultrasound.",
))
TI = banks("thyroid.f", {
    "lobe": ("The {side} lobe measures {dims}.", "{Side} lobe measuring {dims}.", "{Side} thyroid lobe {dims}.", "The {side} lobe is {dims} in size.",
             "The {side} lobe is normal in size at {dims}."),
    "isthmus": ("The isthmus measures {iso} mm.", "Isthmus: {iso} mm in AP thickness.", "Isthmus {iso} mm.", "The isthmus is {iso} mm thick.",
                "Isthmic thickness {iso} mm."),
    "parenchyma": ("The background parenchyma is homogeneous.", "Thyroid parenchyma is ((mildly|)) heterogeneous without increased vascularity.",
                   "Normal background echotexture.", "Homogeneous echotexture and normal vascularity.", "The gland has a homogeneous echotexture."),
    "intro": ("In the {pole} pole of the {side} lobe there is a {dims} nodule.", "Nodule 1: {side} {pole}, {dims}.", "{Side} lobe, {pole} pole: nodule measuring {dims}.",
              "There is a {dims} nodule in the {pole} {side} lobe.", "A dominant nodule is seen in the {side} lobe {pole} pole, measuring {dims}.",
              "{Side} {pole} pole nodule, {dims}."),
    "prose": ("It is {comp} and {echo}, {shape}, with {margin} margins and {foci}.", "The nodule is {comp}, {echo}, {shape}; margins are {margin}; {foci}.",
              "Features: {comp}, {echo}, {shape}, {margin} margin, {foci}.", "This {comp} nodule is {echo} and {shape} with {margin} margins; there are {foci}.",
              "Composition is {comp}; it is {echo} relative to the thyroid, {shape}, {margin} in outline, with {foci}.",
              "{Comp}, {echo}, {shape} nodule with {margin} margins and {foci}."),
    "struct": ("Composition: {comp}{p1}. Echogenicity: {echo}{p2}. Shape: {shape}{p3}. Margin: {margin}{p4}. Echogenic foci: {foci}{p5}.",
               "Composition - {comp}{p1}; echogenicity - {echo}{p2}; shape - {shape}{p3}; margins - {margin}{p4}; echogenic foci - {foci}{p5}.",
               "COMPOSITION {comp}{p1}, ECHOGENICITY {echo}{p2}, SHAPE {shape}{p3}, MARGIN {margin}{p4}, FOCI {foci}{p5}.",
               "[Composition] {comp}{p1} [Echogenicity] {echo}{p2} [Shape] {shape}{p3} [Margin] {margin}{p4} [Echogenic foci] {foci}{p5}.",
               "Comp {comp}{p1} / echo {echo}{p2} / shape {shape}{p3} / margin {margin}{p4} / foci {foci}{p5}."),
    "points": ("Total points: {points}.", "ACR point total {points}.", "{points} points in total.", "Sum of points: {points}.",
               "This gives {points} points."),
    "other_lobe": ("No nodule in the {other} lobe.", "The {other} lobe is without discrete nodules.", "{Other} lobe: no nodules.",
                   "No focal lesion in the {other} lobe or isthmus.", "The {other} lobe is unremarkable."),
    "nodes": ("No abnormal cervical lymph nodes.", "Cervical lymph nodes are normal in morphology with fatty hila.",
              "No suspicious lymph node in levels II to VI.", "Lateral neck nodes unremarkable.", "No lymphadenopathy in the central or lateral neck."),
})
TI_X = banks("thyroid.x", {
    "vascularity": ("The nodule shows peripheral vascularity on color Doppler.", "Minimal internal vascularity.", "No significant internal flow.",
                    "Mixed peripheral and internal vascularity.", "Color Doppler shows perinodular flow only."),
    "trachea": ("The trachea is midline.", "No retrosternal extension of the thyroid.", "The gland does not extend below the clavicles.",
                "No tracheal deviation.", "Trachea midline without compression."),
    "parathyroid": ("No parathyroid adenoma is identified.", "No enlarged parathyroid glands are seen.", "No abnormality posterior to the thyroid.",
                    "No discrete parathyroid lesion.", "The parathyroid regions are unremarkable."),
    "levels": ("Survey of levels II through VI shows normal-appearing oval nodes with fatty hila.", "Small reactive level II nodes bilaterally, with normal morphology.",
               "Central compartment (level VI) without abnormal nodes.", "No cystic change, calcification or hyperechoic cortex in the cervical nodes.",
               "The jugular chain nodes are small and benign-appearing."),
    "salivary": ("The submandibular glands are unremarkable.", "Visualized salivary glands are normal.", "The submandibular glands are symmetric.",
                 "No submandibular abnormality.", "The imaged salivary glands are normal."),
    "followup": ("Measurement technique: maximal dimensions in the transverse and longitudinal planes.", "Nodule measurements follow ACR guidance.",
                 "The nodule was measured in three orthogonal planes.", "Images of the nodule are stored for future comparison.",
                 "Annotated images of the nodule have been archived."),
})
IMP_TI = bank("thyroid.imp", (
    "{Side} {pole} pole thyroid nodule, {size}, as described.", "{size} {side} thyroid nodule.", "Solitary {side} lobe nodule measuring {size}.",
    "{Side} lobe nodule as characterized above.", "Dominant {size} nodule in the {side} lobe.", "Single thyroid nodule on the {side} ({size}).",
))
REC_TI = banks("thyroid.rec", {
    "fna": ("Fine-needle aspiration is recommended.", "Recommend ultrasound-guided FNA of the {side} nodule.", "FNA recommended per ACR criteria.",
            "The nodule meets size criteria for FNA.", "Ultrasound-guided biopsy of this nodule is advised."),
    "follow": ("Follow-up ultrasound is recommended.", "Recommend sonographic follow-up.", "Surveillance ultrasound per ACR criteria; FNA not indicated at this size.",
               "Follow-up ultrasound in 1 to 2 years.", "Continued ultrasound surveillance."),
    "none": ("No FNA or follow-up needed.", "No further evaluation is required for this nodule.", "No biopsy or follow-up indicated.",
             "No additional imaging required.", "No FNA needed."),
})
_TI_WORDS = {
    "comp": {"cystic": ("cystic", "almost completely cystic", "purely cystic"), "spongiform": ("spongiform",),
             "mixed cystic and solid": ("mixed cystic and solid", "predominantly solid with cystic components", "partially cystic"),
             "solid": ("solid", "almost completely solid", "entirely solid")},
    "echo": {"anechoic": ("anechoic",), "hyperechoic": ("hyperechoic",), "isoechoic": ("isoechoic",),
             "hypoechoic": ("hypoechoic", "hypoechoic relative to the thyroid"), "very hypoechoic": ("very hypoechoic", "markedly hypoechoic, darker than the strap muscles")},
    "shape": {"wider-than-tall": ("wider than tall", "wider-than-tall", "not taller than wide"), "taller-than-wide": ("taller than wide", "taller-than-wide")},
    "margin": {"smooth": ("smooth", "well-defined smooth"), "ill-defined": ("ill-defined", "poorly defined"), "lobulated": ("lobulated",),
               "irregular": ("irregular", "spiculated irregular"), "extrathyroidal extension": ("frankly invasive (extrathyroidal extension)",)},
    "foci": {"none": ("no echogenic foci", "no calcifications"), "large comet-tail artifacts": ("large comet-tail artifacts",),
             "macrocalcifications": ("macrocalcifications", "coarse calcifications with shadowing"),
             "peripheral (rim) calcifications": ("peripheral rim calcification", "interrupted rim calcification"),
             "punctate echogenic foci": ("punctate echogenic foci", "punctate microcalcifications")},
}
_ECHO_FOR = {"cystic": ("anechoic",), "spongiform": ("isoechoic", "hyperechoic"), "mixed cystic and solid": ("hyperechoic", "isoechoic", "hypoechoic"),
             "solid": ("hyperechoic", "isoechoic", "hypoechoic", "hypoechoic", "very hypoechoic")}


def _tirads_action(level: str, cm: float) -> str:
    fna, follow = {"TR1": (None, None), "TR2": (None, None), "TR3": (2.5, 1.5), "TR4": (1.5, 1.0), "TR5": (1.0, 0.5)}[level]
    if fna is None:
        return "none"
    return "fna" if cm >= fna else "follow" if cm >= follow else "none"


def thyroid(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    for _ in range(4000):
        comp = r.choice(("cystic", "spongiform", "mixed cystic and solid", "solid", "solid"))
        echo = r.choice(_ECHO_FOR[comp])
        shape = "taller-than-wide" if comp != "cystic" and r.random() < 0.2 else "wider-than-tall"
        margin = "smooth" if comp == "cystic" else r.choice(("smooth", "smooth", "ill-defined", "lobulated", "irregular", "extrathyroidal extension"))
        foci = ["none"] if comp == "cystic" else r.sample(("none", "large comet-tail artifacts", "macrocalcifications",
                                                            "peripheral (rim) calcifications", "punctate echogenic foci"), r.choice((1, 1, 2)))
        if "none" in foci:
            foci = ["none"]
        points = rules.tirads_points(comp, echo, shape, margin, foci)
        if rules.tirads_level(points) == target:
            break
    else:
        raise RuntimeError(target)
    side, pole = _side(r), r.choice(("upper", "mid", "lower"))
    other = "left" if side == "right" else "right"
    mm = r.randint(6, 42)
    cm = mm / 10
    nod_dims = dims([mm, round(mm * r.uniform(0.6, 0.9)), round(mm * r.uniform(0.5, 0.8))], ctx.unit)
    wd = {k: r.choice(_TI_WORDS[k][v]) for k, v in (("comp", comp), ("echo", echo), ("shape", shape), ("margin", margin))}
    wd["foci"] = " and ".join(r.choice(_TI_WORDS["foci"][f]) for f in foci)
    s = dict(side=side, Side=side.capitalize(), other=other, Other=other.capitalize(), pole=pole, dims=nod_dims, size=size(mm, ctx.unit),
             age=r.randint(25, 80), points=points, **wd, Comp=wd["comp"].capitalize())
    show_points = r.random() < 0.3
    pts = {}
    if show_points and comp != "spongiform":
        vals = (rules.TI_COMPOSITION[comp], rules.TI_ECHOGENICITY[echo], rules.TI_SHAPE[shape], rules.TI_MARGIN[margin],
                sum(rules.TI_FOCI[f] for f in set(foci)))
        pts = {f"p{i}": f" ({v})" for i, v in enumerate(vals, 1)}
    else:
        pts = {f"p{i}": "" for i in range(1, 6)}
    nodule = [w.say(TI["intro"], **s)]
    nodule.append(w.say(TI["struct"], **s, **pts) if r.random() < 0.45 else w.say(TI["prose"], **s))
    if r.random() < 0.35:
        nodule.append(w.say(TI["points"], **s))
    lobes = [w.say(TI["lobe"], side="right", Side="Right", dims=dims([r.randint(38, 55), r.randint(12, 20), r.randint(12, 19)], "mm")),
             w.say(TI["lobe"], side="left", Side="Left", dims=dims([r.randint(38, 55), r.randint(12, 20), r.randint(12, 19)], "mm")),
             w.say(TI["isthmus"], iso=r.randint(2, 5)), w.say(TI["parenchyma"])]
    nodule += extras(w, ([TI_X["vascularity"]] if comp in ("solid", "mixed cystic and solid") else []) + [TI_X["followup"]], scale=1.0)
    lobes += extras(w, [TI_X["trachea"], TI_X["parathyroid"]], scale=1.0)
    findings = [("Thyroid", lobes), ("Nodules", nodule + [w.say(TI["other_lobe"], **s)]),
                ("Lymph nodes", [w.say(TI["nodes"])] + extras(w, [TI_X["levels"]], scale=1.2)),
                ("Other", extras(w, [TI_X["salivary"]], scale=1.0))]
    findings = [(h, x) for h, x in findings if x]
    action = _tirads_action(target, cm)
    return Draft(w.say(EXAM_TI), target, history=[w.say(HIST_TI, **s)], technique=[w.say(TECH_TI)], findings=findings,
                 impression=[w.say(IMP_TI, **s)], recommendation=[w.say(REC_TI[action], **s)], prior_exam="thyroid ultrasound", anchor=1,
                 features=dict(comp=comp, echo=echo, shape=shape, margin=margin, foci=foci, points=points, size_cm=cm, action=action,
                               stated_slots={"points": points}))


# ================================================================================== Lung-RADS

EXAM_LU = bank("exam.ldct", ("LOW-DOSE CT CHEST FOR LUNG CANCER SCREENING", "CT chest low dose screening", "LDCT LUNG SCREENING",
                             "Lung cancer screening CT, low dose, without contrast", "CT THORAX LOW-DOSE (SCREENING PROGRAMME)",
                             "Annual low-dose CT chest, lung screening"))
TECH_LU = bank("tech.ldct", (
    "Low-dose helical CT of the chest without intravenous contrast; CTDIvol {ctdi} mGy.",
    "Noncontrast low-dose volumetric chest CT with 1 mm reconstructions and MIP images.",
    "Screening protocol: low-dose CT from the lung apices to the adrenal glands at end inspiration, {ctdi} mGy.",
    "Contiguous thin-section low-dose images of the chest without contrast; lung and soft-tissue kernels.",
    "Low-radiation-dose chest CT per screening protocol, no contrast.",
))
HIST_LU = banks("hist.ldct", {
    "baseline": ("{age}-year-old {status} smoker, {py} pack-years. Baseline lung cancer screening.", "Baseline low-dose CT screening; {py} pack-year history, {status} smoker.",
                 "Lung cancer screening, first round. {Status} smoker ({py} pack-years).", "{age} years, {py} pack-years, eligible for screening; no prior CT.",
                 "Initial screening CT for a {status} smoker with {py} pack-years."),
    "annual": ("Annual lung cancer screening; {py} pack-years, {status} smoker.", "{age}-year-old, {py} pack-years. Annual screening, prior screening CT 12 months ago.",
               "Follow-up screening CT. {Status} smoker, {py} pack-years.", "Annual low-dose CT for lung cancer screening.",
               "Screening, round {round}; {status} smoker."),
})
LU = banks("lung.f", {
    "solid": ("{lobe}: {dims} solid nodule{mean}.", "There is a {dims} solid nodule in the {lobe}{mean}.", "Solid pulmonary nodule in the {lobe} measuring {dims}{mean}.",
              "{Lobe} solid nodule, {dims}{mean}.", "A solid {dims} nodule is present in the {lobe}{mean}.", "In the {lobe} there is a noncalcified solid nodule of {dims}{mean}."),
    "part_solid": ("{lobe}: {dims} part-solid nodule with a {solid} solid component{mean}.", "Part-solid nodule in the {lobe}, {dims} overall, solid component {solid}{mean}.",
                   "There is a {dims} part-solid nodule in the {lobe} containing a {solid} solid portion{mean}.", "{Lobe} subsolid nodule with a {solid} solid component, total {dims}{mean}.",
                   "Mixed ground-glass and solid nodule in the {lobe}: {dims} overall, {solid} solid{mean}."),
    "ggn": ("{lobe}: {dims} ground-glass nodule{mean}.", "Pure ground-glass nodule in the {lobe} measuring {dims}{mean}.", "There is a {dims} nonsolid (ground-glass) nodule in the {lobe}{mean}.",
            "{Lobe} nonsolid nodule, {dims}{mean}.", "A {dims} ground-glass opacity is seen in the {lobe}{mean}."),
    "mean": (" (mean diameter {m})", ", mean {m}", " (average diameter {m})", " (mean {m})", ", average {m}"),
    "new": ("This is new since the prior screening CT.", "New compared with the prior examination.", "Not present on the prior study.",
            "It is new.", "Newly seen since last year."),
    "growing": ("Previously {prior}, it has enlarged.", "It has grown from {prior} on the prior study.", "Interval growth from {prior}.",
                "It measured {prior} last year and is now larger.", "Increased in size from {prior}."),
    "stable": ("Unchanged from the prior study.", "Stable compared with the prior screening CT.", "No interval change.", "It is stable.",
               "Stable in size and appearance."),
    "susp": ("It has spiculated margins.", "Spiculated margins with pleural retraction.", "The nodule is spiculated with a bubbly lucency.",
             "Irregular spiculated contour.", "Spiculation and vascular convergence are present."),
    "benign": ("{size} completely calcified nodule in the {lobe}, a granuloma.", "{size} nodule with popcorn calcification in the {lobe}, consistent with a hamartoma.",
               "Fat-containing {size} nodule in the {lobe}, a hamartoma.", "{size} densely calcified granuloma, {lobe}.",
               "{size} nodule in the {lobe} with central calcification, benign.", "Benign-appearing calcified {size} nodule in the {lobe}."),
    "no_nodules": ("No pulmonary nodules.", "There are no noncalcified pulmonary nodules.", "No suspicious pulmonary nodule.",
                   "No lung nodules are identified.", "Lungs: no nodules."),
    "incomplete": ("The lung bases were excluded from the field of view; part of the lungs cannot be evaluated.",
                   "Severe respiratory motion degrades the lower lobes; these cannot be evaluated for nodules.",
                   "The study is incomplete: the lung apices were not included.", "Extensive motion artifact precludes assessment of both lower lobes.",
                   "Part of the right lung was not imaged."),
    "infection": ("Patchy consolidation with air bronchograms in the {lobe}, suggestive of an infectious or inflammatory process.",
                  "Clustered tree-in-bud nodularity in the {lobe}, likely infectious.", "New segmental consolidation in the {lobe}, favored to be pneumonia.",
                  "Multifocal peribronchovascular opacities in the {lobe}, likely inflammatory.",
                  "Airspace consolidation in the {lobe} consistent with infection; follow-up to resolution is needed."),
})
IMP_LU = banks("lung.imp", {
    "0": ("Incomplete screening examination.", "Screening CT nondiagnostic as described.", "Incomplete or indeterminate study; see recommendation.",
          "Findings require additional imaging before a screening category can be assigned.", "Indeterminate screening result."),
    "1": ("Negative screening CT.", "No suspicious pulmonary nodule on screening.", "No lung nodules of concern.", "Benign-appearing calcified nodules only.",
          "No evidence of lung cancer."),
    "nodule": ("{lobe} {kind} nodule as described.", "{kind} nodule in the {lobe}, {size}.", "Pulmonary nodule, {lobe}.",
               "{size} {kind} nodule ({lobe}).", "Screening-detected {kind} nodule in the {lobe}."),
})
REC_LU = banks("lung.rec", {
    "annual": ("Continue annual screening with low-dose CT in 12 months.", "Next screening LDCT in 12 months.", "Annual screening LDCT.",
               "Return for annual screening in one year.", "Continue annual low-dose CT screening."),
    "6m": ("Follow-up low-dose CT in 6 months.", "Six-month LDCT recommended.", "Repeat LDCT in 6 months.",
           "Short-interval follow-up screening CT in 6 months.", "LDCT at 6 months."),
    "3m": ("Follow-up low-dose CT in 3 months; PET/CT may be considered for a solid component of 8 mm or more.",
           "Three-month LDCT recommended.", "Repeat LDCT in 3 months.", "LDCT in 3 months; consider PET/CT.", "Short-interval CT at 3 months."),
    "workup": ("Diagnostic chest CT with or without contrast, PET/CT and/or tissue sampling; referral to the pulmonary nodule clinic.",
               "Recommend PET/CT and pulmonology referral for tissue sampling.", "Further evaluation with PET/CT and biopsy as appropriate.",
               "Referral for further clinical evaluation and tissue diagnosis.", "PET/CT and multidisciplinary review recommended."),
    "0": ("Additional lung cancer screening CT images and/or comparison to prior chest CT are needed.", "Repeat LDCT in 1-3 months after treatment of the infection.",
          "Complete the examination; repeat low-dose CT of the missing region.", "Follow-up LDCT in 1-3 months to confirm resolution.",
          "Repeat the screening study for complete coverage."),
})
_MGMT = {"0": "additional imaging needed", "1": "continue annual screening", "2": "continue annual screening", "3": "6-month LDCT",
         "4A": "3-month LDCT", "4B": "diagnostic CT, PET/CT or tissue sampling", "4X": "diagnostic CT, PET/CT or tissue sampling"}


def lung_screen(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r
    followup = r.random() < 0.5
    s = dict(age=r.randint(50, 80), py=r.randint(20, 70), status=r.choice(("current", "former")), round=r.randint(2, 6), ctdi=round(r.uniform(0.8, 1.8), 1))
    s["Status"] = s["status"].capitalize()
    history = [w.say(HIST_LU["annual" if followup else "baseline"], **s)]
    lung: list[str] = []
    feats: dict = {"followup": followup}
    unit = ctx.unit

    def nodule() -> tuple[list[str], str, dict]:
        kind = r.choice(("solid", "solid", "part-solid", "ground-glass"))
        status = "baseline" if not followup else r.choice(("new", "growing", "stable"))
        if kind == "ground-glass":
            long = r.choice((round(r.uniform(6, 29)), round(r.uniform(30, 45))))
            status = "baseline" if not followup else r.choice(("new", "stable"))
        else:
            long = round(r.uniform(3 if kind == "solid" else 5, 24))
        short = max(2, round(long * r.uniform(0.6, 1.0)))
        mean = rules.mean_diameter(long, short)
        solid = round(r.uniform(2, max(2, min(12, mean - 1)))) if kind == "part-solid" else 0
        if status == "stable" and (kind == "solid" and mean >= 6 or kind == "part-solid"):
            status = "new"
        suspicious = kind != "ground-glass" and r.random() < 0.15
        cat = rules.lung_rads_nodule(kind, mean, solid, status, suspicious)
        lobe = r.choice(LOBES)
        ns = dict(lobe=lobe, Lobe=lobe[0].upper() + lobe[1:], dims=dims([long, short], "mm"), solid=size(solid, "mm"),
                  mean=" " + w.frag(LU["mean"], m=size(mean, "mm")) if r.random() < 0.35 else "")
        text = [w.say(LU[{"solid": "solid", "part-solid": "part_solid", "ground-glass": "ggn"}[kind]], **ns)]
        if status == "new":
            text.append(w.say(LU["new"]))
        elif status == "growing":
            text.append(w.say(LU["growing"], prior=dims([max(2, long - r.randint(2, 5)), max(2, short - r.randint(2, 4))], "mm")))
        elif status == "stable":
            text.append(w.say(LU["stable"]))
        if suspicious:
            text.append(w.say(LU["susp"]))
        return text, cat, dict(kind=kind, long=long, short=short, mean=mean, solid=solid, status=status, suspicious=suspicious, lobe=lobe)

    imp_slots: dict = {}
    if target == "0":
        lobe = r.choice(LOBES)
        key = r.choice(("incomplete", "infection"))
        lung = [w.say(LU[key], lobe=lobe)]
        impression = [w.say(IMP_LU["0"])]
        rec = [w.say(REC_LU["0"])]
        feats["zero"] = key
    elif target == "1":
        lung = [w.say(LU["no_nodules"])] if r.random() < 0.5 else [w.say(LU["benign"], size=size(r.randint(4, 14), "mm"), lobe=r.choice(LOBES))]
        impression = [w.say(IMP_LU["1"])]
        rec = [w.say(REC_LU["annual"])]
    else:
        for _ in range(4000):
            nods = [nodule() for _ in range(r.choice((1, 1, 2)))]
            cat = rules.lung_rads_exam([c for _, c, _ in nods])
            if cat == target:
                break
        else:
            raise RuntimeError(target)
        for text, _, _ in nods:
            lung.extend(text)
        top = max(nods, key=lambda n: rules.LUNG_RADS_ORDER.index(n[1]))[2]
        feats["nodules"] = [n[2] for n in nods]
        imp_slots = dict(lobe=top["lobe"], kind={"solid": "solid", "part-solid": "part-solid", "ground-glass": "ground-glass"}[top["kind"]],
                         size=size(top["mean"], "mm"))
        imp_slots["Lobe"] = imp_slots["lobe"][0].upper() + imp_slots["lobe"][1:]
        impression = [w.say(IMP_LU["nodule"], **imp_slots)]
        rec = [w.say(REC_LU[{"2": "annual", "3": "6m", "4A": "3m", "4B": "workup", "4X": "workup"}[target]])]
    extra: dict[str, list[str]] = {}
    s_mod = False
    if r.random() < 0.3:
        extra["heart"] = ["heart:coronary"]
        s_mod = target != "0" and r.random() < 0.5
    if ctx.lookalike:
        organ, look = r.choice((("chest_wall", "lookalike:breast_on_ct"), ("mediastinum", "lookalike:thyroid_on_ct")))
        extra[organ] = [look]
    paras = body_paragraphs(w, CHEST_ORGANS[1:], unit=unit, p_incidental=0.2,
                            allowed={"heart:coronary", "thoracic_vessels:atherosclerosis", "upper_abdomen:hiatal", "bones:degenerative", "bones:hemangioma"},
                            extra=extra)
    background = w.maybe(0.4, "incidental.lungs:emphysema")
    findings = [("Lungs", lung + background)] + paras
    feats["stated_slots"] = {"management": _MGMT[target]}
    feats["s_modifier"] = s_mod
    return Draft(w.say(EXAM_LU), target, history=history, technique=[w.say(TECH_LU, **s)], findings=findings, impression=impression,
                 recommendation=rec, prior_exam="screening CT" if followup else "", anchor=0, features=feats, lookalike_used=ctx.lookalike,
                 comparison=None if followup else [w.say("comparison.none")])


# ================================================================================== PI-RADS

EXAM_PI = bank("exam.prostate", ("MRI PROSTATE WITHOUT AND WITH CONTRAST", "Multiparametric MRI of the prostate", "MRI PELVIS (PROSTATE), MULTIPARAMETRIC",
                                 "Prostate MRI, biparametric and DCE", "MP-MRI PROSTATE", "MRI of the prostate gland with gadolinium"))
TECH_PI = bank("tech.prostate", (
    "3 T multiparametric MRI: small-field-of-view T2-weighted images in three planes, DWI (b 0-1000 with calculated b 1400) with ADC map, and dynamic contrast-enhanced T1-weighted imaging.",
    "Axial, sagittal and coronal T2W, axial DWI/ADC and DCE after {ml} mL gadobutrol; no endorectal coil.",
    "Multiparametric prostate protocol at ((1.5|3)) T (T2W, DWI with high b-value, ADC, DCE).",
    "PI-RADS v2.1 compliant protocol with T2-weighted, diffusion-weighted and dynamic post-contrast sequences.",
    "Prostate MRI with T2, diffusion (b 1500) and perfusion imaging.",
))
HIST_PI = bank("hist.prostate", (
    "Elevated PSA ({psa} ng/mL).", "Rising PSA, {psa} ng/mL; prior negative systematic biopsy.", "{age}-year-old man with PSA {psa} ng/mL. Biopsy-naive.",
    "PSA {psa} ng/mL and an abnormal digital rectal examination.", "Active surveillance; PSA {psa} ng/mL.", "Raised PSA ({psa}), family history of prostate cancer.",
))
PI = banks("prostate.f", {
    "volume": ("The prostate measures {dims} (volume {vol} mL). PSA density {psad} ng/mL/mL.", "Prostate volume: {vol} mL. PSA density: {psad}.",
               "Gland size {dims}, estimated volume {vol} cc; PSA density {psad}.", "Volume {vol} mL (ellipsoid formula).", "The gland is {vol} mL in volume."),
    "pz_normal": ("Peripheral zone: no focal lesion; homogeneous high T2 signal without restricted diffusion.", "No suspicious peripheral zone lesion.",
                  "The peripheral zone shows normal signal on T2W and DWI.", "Peripheral zone unremarkable.", "No focal abnormality in the peripheral zone."),
    "pz_wedge": ("Peripheral zone: linear and wedge-shaped T2 hypointensity with indistinct mild hypointensity on ADC, no focal lesion.",
                 "Wedge-shaped areas of low T2 signal in the {side} peripheral zone without focal restricted diffusion, likely prostatitis.",
                 "Diffuse mild T2 hypointensity of the peripheral zone, linear and wedge-shaped, without a focal abnormality on DWI.",
                 "Band-like T2 hypointensity and linear mild ADC hypointensity in the peripheral zone.",
                 "Nonfocal, wedge-shaped low signal in the {side} peripheral zone, no restriction."),
    "tz_bph": ("Transition zone: enlarged with typical encapsulated BPH nodules.", "Benign prostatic hyperplasia of the transition zone with well-circumscribed nodules.",
               "The transition zone is enlarged with round, completely encapsulated nodules.", "Transition zone nodules consistent with BPH.",
               "Typical BPH changes in the transition zone."),
    "lesion": ("{size} lesion in the {loc}{epe}.", "There is a {size} focal lesion in the {loc}{epe}.", "Index lesion: {loc}, {size}{epe}.",
               "A {size} lesion is present in the {loc}{epe}.", "{Loc}: {size} lesion{epe}.", "Focal abnormality in the {loc} measuring {size}{epe}."),
    "epe": (" with definite extraprostatic extension", " with bulging of the capsule and obliteration of the rectoprostatic angle (extraprostatic extension)",
            " with measurable extraprostatic extension", " that breaches the capsule", " with frank extraprostatic extension"),
    "t2_pz": ("On T2W it is homogeneously hypointense.", "T2: moderately hypointense, ill-defined.", "Low T2 signal.", "It is T2 hypointense.",
              "The lesion is of low signal on T2-weighted images."),
    "dwi2": ("DWI/ADC: linear/wedge-shaped mild hypointensity on ADC without focal restriction.", "On ADC it is indistinct and mildly hypointense; no focal hyperintensity at high b-value.",
             "Mild nonfocal ADC hypointensity only.", "Diffusion: indistinct, linear, not focal.", "ADC shows only mild, wedge-shaped hypointensity."),
    "dwi3": ("DWI/ADC: focal mild to moderate hypointensity on ADC and isointense to mildly hyperintense on high b-value DWI.",
             "Focal mild-moderate ADC hypointensity (ADC {adc}) with only slight high-b-value hyperintensity.",
             "Diffusion: focal, moderately low ADC, iso- to mildly hyperintense on b 1400.", "Moderately restricted diffusion, focal (ADC {adc}).",
             "ADC mildly to moderately hypointense in a focal distribution."),
    "dwi45": ("DWI/ADC: focal marked hypointensity on ADC (ADC {adc}) and marked hyperintensity on high b-value DWI.",
              "Marked focal restricted diffusion (ADC {adc}).", "Diffusion: markedly hyperintense on b 1400 with a markedly low ADC of {adc}.",
              "Focal markedly restricted diffusion.", "Strong diffusion restriction with ADC {adc}."),
    "dwi1": ("No abnormality on ADC or high b-value DWI.", "DWI: normal.", "No restricted diffusion.", "Diffusion-weighted imaging is unremarkable.",
             "ADC and high b-value images are normal."),
    "t2_1": ("T2W: a round, completely encapsulated nodule (typical BPH nodule).", "Typical encapsulated BPH nodule on T2.", "T2: round, fully encapsulated, heterogeneous BPH-type nodule.",
             "On T2 it is a well-encapsulated typical nodule.", "T2-weighted: completely encapsulated round nodule."),
    "t2_2": ("T2W: a mostly encapsulated, homogeneous circumscribed nodule.", "T2: homogeneous, circumscribed nodule without full encapsulation (atypical nodule).",
             "On T2 it is mostly encapsulated.", "Mostly encapsulated homogeneous nodule on T2W.", "T2: homogeneous mildly hypointense area between nodules."),
    "t2_3": ("T2W: heterogeneous signal intensity with obscured margins.", "T2: heterogeneous with obscured margins, not clearly encapsulated.",
             "Heterogeneous signal with obscured margins on T2W.", "On T2 it is heterogeneous and ill-defined.", "T2-weighted: heterogeneous, margins obscured."),
    "t2_45": ("T2W: lenticular, non-circumscribed, homogeneous moderately hypointense lesion (erased charcoal sign).",
              "T2: homogeneous moderately hypointense, lenticular and non-circumscribed.", "Erased-charcoal appearance on T2W.",
              "On T2 it is lenticular with homogeneous moderate hypointensity.", "T2-weighted: non-circumscribed homogeneous low signal."),
    "dce_pos": ("DCE: positive, focal early enhancement corresponding to the lesion.", "Focal early enhancement matching the DWI abnormality.",
                "DCE positive.", "Early focal contrast enhancement corresponding to the lesion.", "Dynamic imaging shows focal early enhancement."),
    "dce_neg": ("DCE: negative.", "No early focal enhancement.", "DCE negative, no focal early enhancement.", "Dynamic contrast imaging is negative.",
                "No corresponding early enhancement."),
    "nvb": ("Neurovascular bundles are preserved.", "No neurovascular bundle involvement.", "The neurovascular bundles are symmetric.",
            "Normal neurovascular bundles.", "Neurovascular bundles intact."),
})
PI_X = banks("prostate.x", {
    "quality": ("Image quality is adequate for interpretation (PI-QUAL {pq}).", "Diagnostic quality; no significant rectal gas artifact.",
                "DWI is free of significant distortion.", "Good quality T2-weighted images.", "Mild motion on DCE, otherwise adequate quality."),
    "hemorrhage": ("No post-biopsy hemorrhage on T1-weighted images.", "No T1 hyperintense hemorrhage.", "No blood products in the gland.",
                   "T1-weighted images show no hemorrhage.", "No hemorrhage to confound interpretation."),
    "central": ("The central zone is symmetric.", "Symmetric central zone at the base.", "Normal central zone signal bilaterally.",
                "No central zone asymmetry.", "The central zone is unremarkable."),
    "urethra": ("The urethra and external sphincter are unremarkable.", "Normal membranous urethral length of {mul} mm.", "No involvement of the urethral sphincter.",
                "The bladder neck is normal.", "Sphincter complex intact."),
    "capsule": ("The prostatic capsule is smooth elsewhere.", "No capsular irregularity away from the lesion.", "The pseudocapsule is intact.",
                "Rectoprostatic angles are preserved.", "Smooth capsular contour."),
})
IMP_PI = banks("prostate.imp", {
    "lesion": ("{Loc} lesion, {size}.", "{size} {zone} zone lesion as described.", "Index lesion in the {loc}.", "Single {zone} zone lesion ({size}).",
               "{size} lesion, {loc}{epe_imp}."),
    "none": ("No focal suspicious lesion.", "No MRI evidence of clinically significant prostate cancer.", "No suspicious lesion in the prostate.",
             "Negative prostate MRI.", "No focal abnormality."),
})
REC_PI = banks("prostate.rec", {
    "biopsy": ("MRI-targeted biopsy of the index lesion is recommended.", "Recommend targeted biopsy.", "Consider MRI/ultrasound fusion biopsy.",
               "Targeted sampling of the lesion is advised.", "Fusion-guided biopsy recommended."),
    "consider": ("Biopsy may be considered in light of PSA density and clinical risk.", "Consider biopsy versus follow-up based on PSA density.",
                 "Management depends on clinical factors; targeted biopsy may be considered.", "Correlate with PSA kinetics; biopsy or follow-up MRI.",
                 "Consider follow-up MRI or targeted biopsy."),
    "routine": ("Routine clinical follow-up.", "No biopsy indicated on imaging grounds.", "Continued PSA monitoring.", "Clinical follow-up as appropriate.",
                "PSA surveillance."),
})


def prostate(ctx: Ctx, target: str) -> Draft:
    w, r = ctx.w, ctx.r

    for _ in range(4000):
        zone = r.choice(("peripheral", "transition"))
        mm = r.randint(5, 24)
        epe = r.random() < 0.1
        big = mm >= 15 or epe
        dwi_p = r.choice((1, 2, 3, "marked", "marked"))
        t2_p = r.choice((1, 2, 3, "lenticular"))
        if zone == "transition" and t2_p == 1:
            dwi_p = r.choice((1, 2))
        dwi = (5 if big else 4) if dwi_p == "marked" else dwi_p
        t2 = (5 if big else 4) if t2_p == "lenticular" else t2_p
        dce = r.random() < 0.5
        cat = rules.pirads(zone, dwi, t2, dce)
        if cat == target:
            break
    else:
        raise RuntimeError(target)
    side = _side(r)
    level = r.choice(("base", "mid gland", "apex"))
    loc = (f"{side} {r.choice(('posterolateral', 'posteromedial'))} peripheral zone at the {level}" if zone == "peripheral"
           else f"{side} {r.choice(('anterior', 'posterior'))} transition zone at the {level}")
    psa = round(r.uniform(3, 18), 1)
    vol = r.randint(25, 90)
    s = dict(side=side, loc=loc, Loc=loc[0].upper() + loc[1:], size=size(mm, ctx.unit), zone=zone, psa=psa, age=r.randint(50, 78), ml=r.choice((10, 12, 15)),
             adc=r.choice((550, 620, 700, 780, 850, 900, 1000)), vol=vol, psad=round(psa / vol, 2),
             dims=dims([r.randint(38, 60), r.randint(30, 50), r.randint(35, 60)], "mm"),
             epe=" " + w.frag(PI["epe"]) if epe else "", epe_imp=" with extraprostatic extension" if epe else "")
    gland = [w.say(PI["volume"], **s)]
    no_lesion = zone == "peripheral" and dwi == 1
    if zone == "peripheral":
        if no_lesion:
            pz = [w.say(PI["pz_normal"])]
        elif dwi == 2:
            pz = [w.say(PI["pz_wedge"], **s)]
        else:
            pz = [w.say(PI["lesion"], **s), w.say(PI["t2_pz"]), w.say(PI["dwi3" if dwi == 3 else "dwi45"], **s),
                  w.say(PI["dce_pos" if dce else "dce_neg"])]
        tz = [w.say(PI["tz_bph"])]
        paras = [("Peripheral zone", pz), ("Transition zone", tz)]
    else:
        t2_key = {1: "t2_1", 2: "t2_2", 3: "t2_3"}.get(t2, "t2_45")
        dwi_key = {1: "dwi1", 2: "dwi2", 3: "dwi3"}.get(dwi, "dwi45")
        tz = [w.say(PI["lesion"], **s), w.say(PI[t2_key]), w.say(PI[dwi_key], **s)]
        if r.random() < 0.6:
            tz.append(w.say(PI["dce_pos" if dce else "dce_neg"]))
        paras = [("Transition zone", tz), ("Peripheral zone", [w.say(PI["pz_normal"])])]
    lesionless = no_lesion or (zone == "peripheral" and dwi == 2)
    gland += extras(w, [PI_X["hemorrhage"], PI_X["central"]], scale=1.0)
    findings = [("Prostate", gland)] + paras + [("Extraprostatic", [w.say(PI["nvb"])] + extras(w, [PI_X["urethra"]] + ([] if epe else [PI_X["capsule"]]),
                                                                                              mul=r.randint(10, 18)))]
    findings += body_paragraphs(w, ["seminal_vesicles", "bladder", "rectum", "pelvic_nodes", "pelvic_bones"], unit=ctx.unit, p_incidental=0.0,
                                extra={"bladder": ["lookalike:bladder_on_ct"]} if ctx.lookalike else None)
    impression = [w.say(IMP_PI["none" if lesionless else "lesion"], **s)]
    rec = [w.say(REC_PI["routine" if target in ("1", "2") else "consider" if target == "3" else "biopsy"])]
    return Draft(w.say(EXAM_PI), target, history=[w.say(HIST_PI, **s)], technique=[w.say(TECH_PI, **s)] + extras(w, [PI_X["quality"]], pq=r.randint(3, 5)),
                 findings=findings,
                 impression=impression, recommendation=rec, prior_exam="prostate MRI", anchor=1, lookalike_used=ctx.lookalike,
                 features=dict(zone=zone, dwi=dwi, t2=t2, dce=dce, size_mm=mm, epe=epe))
