"""Shared banks: normal organ statements, benign incidentals, cross-system look-alike incidentals,
comparison lines. Each organ paragraph of a v2 report is one normal statement or one or two
incidental findings; the generators decide which organs a given exam reports and which incidental
kinds are safe for its label (a hepatic hemangioma is an LI-RADS observation in a cirrhotic
liver, an adrenal adenoma is a deliberate M0 trap in a staging report).
"""

from __future__ import annotations

import random
import re

from training.data.reports_v2.phrasing import Writer, bank, banks, size

# organ -> heading vocabulary (shared by every split; headings are not sentences)
HEADINGS = {
    "lungs": ("Lungs", "Lung parenchyma", "Lungs and airways"),
    "airways": ("Airways", "Central airways"),
    "pleura": ("Pleura", "Pleural spaces"),
    "heart": ("Heart", "Heart and pericardium", "Cardiac"),
    "mediastinum": ("Mediastinum", "Lymph nodes", "Mediastinum and hila"),
    "thoracic_vessels": ("Vessels", "Vasculature", "Great vessels"),
    "chest_wall": ("Chest wall", "Soft tissues", "Chest wall and axillae"),
    "upper_abdomen": ("Upper abdomen", "Limited upper abdomen", "Visualized upper abdomen"),
    "bones": ("Bones", "Musculoskeletal", "Osseous structures"),
    "liver": ("Liver", "Hepatobiliary"),
    "gallbladder": ("Gallbladder", "Gallbladder and bile ducts", "Biliary"),
    "pancreas": ("Pancreas",),
    "spleen": ("Spleen",),
    "adrenals": ("Adrenal glands", "Adrenals"),
    "kidneys": ("Kidneys", "Kidneys and ureters", "Genitourinary"),
    "bowel": ("Bowel", "Gastrointestinal tract", "Bowel and mesentery"),
    "bladder": ("Bladder", "Urinary bladder"),
    "pelvic_organs": ("Pelvic organs", "Reproductive organs", "Pelvis"),
    "abd_nodes": ("Lymph nodes", "Nodes"),
    "abd_vessels": ("Vasculature", "Vessels", "Aorta and IVC"),
    "peritoneum": ("Peritoneum", "Peritoneum and retroperitoneum"),
    "abd_wall": ("Abdominal wall", "Body wall"),
    "aerodigestive": ("Pharynx and larynx", "Aerodigestive tract", "Upper aerodigestive tract"),
    "salivary": ("Salivary glands", "Parotid and submandibular glands"),
    "thyroid_ct": ("Thyroid", "Thyroid gland"),
    "neck_vessels": ("Vessels", "Neck vessels"),
    "skull_base": ("Skull base and brain", "Visualized brain", "Intracranial"),
    "lung_apices": ("Lung apices", "Upper chest"),
    "cspine": ("Cervical spine", "Bones"),
    "seminal_vesicles": ("Seminal vesicles",),
    "rectum": ("Rectum", "Rectum and bowel"),
    "pelvic_nodes": ("Lymph nodes", "Pelvic lymph nodes", "Nodes"),
    "pelvic_bones": ("Bones", "Bone marrow", "Osseous structures"),
}

NORMAL = banks("normal", {
    "lungs": (
        "The lungs are clear.",
        "The lungs are clear without consolidation, mass or suspicious nodule.",
        "No focal airspace opacity, suspicious nodule or mass is seen in either lung.",
        "Clear lungs.",
        "Both lungs are well aerated and ((clear|free of focal abnormality)).",
        "There is no ((consolidation|airspace disease)), interstitial abnormality or suspicious pulmonary nodule.",
        "Lung parenchyma is unremarkable.",
    ),
    "airways": (
        "The central airways are patent.",
        "The trachea and main bronchi are patent ((without endobronchial lesion|and of normal caliber)).",
        "Patent central airways.",
        "No endobronchial lesion; the airways are clear to the segmental level.",
        "Trachea and central bronchi are clear.",
    ),
    "pleura": (
        "No pleural effusion or pneumothorax.",
        "There is no pleural effusion, thickening or pneumothorax.",
        "Pleural spaces are clear.",
        "No effusion. No pneumothorax.",
        "The pleural surfaces are smooth and there is no pleural fluid.",
        "No pleural fluid ((or|and no)) pleural thickening.",
    ),
    "heart": (
        "Heart size is normal. No pericardial effusion.",
        "The heart is normal in size and there is no pericardial effusion.",
        "Normal cardiac size; no pericardial fluid.",
        "The cardiac chambers are not enlarged. The pericardium is unremarkable.",
        "Cardiac size within normal limits, no pericardial thickening or effusion.",
    ),
    "mediastinum": (
        "No mediastinal, hilar or axillary lymphadenopathy.",
        "There is no enlarged lymph node in the mediastinum, hila or axillae.",
        "No thoracic lymphadenopathy by CT size criteria.",
        "Mediastinal and hilar lymph nodes are not enlarged.",
        "No adenopathy in the mediastinum or either hilum.",
        "Lymph nodes in the mediastinum and axillae are ((normal in size|subcentimeter and unremarkable)).",
    ),
    "thoracic_vessels": (
        "The thoracic aorta is normal in caliber. The main pulmonary artery is not enlarged.",
        "Normal caliber of the thoracic aorta and pulmonary arteries.",
        "No aortic aneurysm. Pulmonary trunk of normal size.",
        "The great vessels are ((unremarkable|normal in caliber)).",
        "Thoracic aorta and main pulmonary artery are within normal limits for size.",
    ),
    "chest_wall": (
        "The chest wall and axillae are unremarkable.",
        "No chest wall abnormality.",
        "Soft tissues of the chest wall are within normal limits.",
        "Unremarkable chest wall ((and axillary soft tissues|soft tissues)).",
        "No suspicious soft-tissue abnormality of the chest wall or axillae is seen.",
    ),
    "upper_abdomen": (
        "The visualized upper abdomen is unremarkable.",
        "Included portions of the upper abdomen show no acute abnormality.",
        "Limited views of the upper abdomen are within normal limits.",
        "The partially imaged liver, spleen and adrenal glands are unremarkable.",
        "No abnormality in the imaged upper abdominal organs.",
    ),
    "bones": (
        "No suspicious osseous lesion.",
        "No aggressive lytic or sclerotic bone lesion.",
        "The bones are ((intact|unremarkable)) with no suspicious focal lesion.",
        "Osseous structures show age-appropriate degenerative change only.",
        "No destructive osseous abnormality is identified.",
        "Mild multilevel degenerative change without a suspicious bone lesion.",
    ),
    "liver": (
        "The liver is normal in size and attenuation without focal lesion.",
        "Normal liver with no focal hepatic lesion.",
        "No focal liver lesion is identified.",
        "The liver is of normal size and contour and ((enhances homogeneously|is homogeneous)).",
        "Liver unremarkable.",
        "Homogeneous hepatic parenchyma; no ((suspicious|focal)) lesion.",
    ),
    "gallbladder": (
        "The gallbladder is unremarkable. No biliary dilatation.",
        "Gallbladder normal; no intra- or extrahepatic biliary ductal dilatation.",
        "Normal gallbladder and bile ducts.",
        "No gallstones. The common bile duct is not dilated.",
        "The gallbladder is ((normally distended|well distended)) without wall thickening, and the biliary tree is not dilated.",
    ),
    "pancreas": (
        "The pancreas is normal.",
        "Normal pancreas without ductal dilatation or focal lesion.",
        "The pancreas enhances homogeneously; the pancreatic duct is not dilated.",
        "Pancreas unremarkable.",
        "No pancreatic mass or peripancreatic inflammatory change.",
    ),
    "spleen": (
        "The spleen is normal in size.",
        "Normal spleen.",
        "Spleen is not enlarged and has no focal lesion.",
        "The spleen is ((unremarkable|homogeneous and normal in size)).",
        "No splenomegaly.",
    ),
    "adrenals": (
        "The adrenal glands are normal.",
        "Normal adrenal glands.",
        "No adrenal nodule.",
        "Both adrenal glands are ((thin and normal in appearance|unremarkable)).",
        "Adrenals are without mass or nodularity.",
    ),
    "kidneys": (
        "The kidneys enhance symmetrically without hydronephrosis or solid mass.",
        "Normal kidneys. No hydronephrosis.",
        "No renal mass, calculus or hydronephrosis.",
        "Both kidneys are normal in size and enhancement.",
        "Kidneys and ureters unremarkable.",
        "The kidneys are ((unremarkable|normal)); the ureters are not dilated.",
    ),
    "bowel": (
        "No bowel obstruction or bowel wall thickening.",
        "The bowel is normal in caliber without wall thickening.",
        "Unremarkable stomach, small bowel and colon.",
        "No evidence of bowel obstruction. The appendix is normal.",
        "Bowel loops are of normal caliber and wall thickness.",
    ),
    "bladder": (
        "The urinary bladder is unremarkable.",
        "Bladder ((normally distended|well distended)) without wall thickening.",
        "Normal bladder.",
        "The bladder is ((partially|moderately)) distended and appears normal.",
        "No bladder wall abnormality.",
    ),
    "pelvic_organs": (
        "The pelvic organs are unremarkable.",
        "Unremarkable pelvic viscera.",
        "No pelvic mass.",
        "The reproductive organs are within normal limits for age.",
        "No abnormality of the pelvic organs.",
    ),
    "abd_nodes": (
        "No abdominal or pelvic lymphadenopathy.",
        "No retroperitoneal, mesenteric or pelvic lymph node enlargement.",
        "No enlarged lymph nodes in the abdomen or pelvis.",
        "Lymph nodes are ((normal in size|not enlarged)) throughout the abdomen and pelvis.",
        "There is no adenopathy.",
    ),
    "abd_vessels": (
        "The abdominal aorta is normal in caliber.",
        "No abdominal aortic aneurysm. Patent portal and hepatic veins.",
        "Normal caliber abdominal aorta with mild atherosclerotic calcification.",
        "Major abdominal vessels are patent.",
        "The aorta and IVC are ((normal|unremarkable)).",
    ),
    "peritoneum": (
        "No ascites or free air.",
        "There is no free fluid or free intraperitoneal air.",
        "No peritoneal nodularity or ascites.",
        "Peritoneum unremarkable.",
        "No ((intraperitoneal|abdominal)) fluid collection.",
    ),
    "abd_wall": (
        "The abdominal wall is intact.",
        "No abdominal wall hernia.",
        "Abdominal wall unremarkable.",
        "No ventral or inguinal hernia.",
        "The body wall soft tissues are normal.",
    ),
    "aerodigestive": (
        "The nasopharynx, oropharynx, hypopharynx and larynx are symmetric without mass.",
        "No mass or asymmetry of the pharynx or larynx.",
        "The aerodigestive tract is unremarkable.",
        "Symmetric pharyngeal and laryngeal soft tissues; the airway is patent.",
        "Pharynx and larynx ((appear normal|unremarkable)).",
    ),
    "salivary": (
        "The parotid and submandibular glands are unremarkable.",
        "Normal salivary glands.",
        "No salivary gland mass or ductal dilatation.",
        "Parotid and submandibular glands are symmetric and normal.",
        "The major salivary glands ((are within normal limits|show no focal lesion)).",
    ),
    "thyroid_ct": (
        "The thyroid gland is unremarkable.",
        "Normal thyroid.",
        "Thyroid gland homogeneous and not enlarged.",
        "No thyroid nodule is seen.",
        "The thyroid is ((normal in size|normal)) and homogeneous.",
    ),
    "neck_vessels": (
        "The major vessels of the neck are patent.",
        "Carotid and jugular vessels are patent.",
        "Patent cervical vasculature.",
        "No vascular abnormality in the neck.",
        "The carotid arteries and internal jugular veins ((enhance normally|are unremarkable)).",
    ),
    "skull_base": (
        "The visualized brain and skull base are unremarkable.",
        "No abnormality of the imaged intracranial structures.",
        "Skull base intact.",
        "Included posterior fossa and orbits are normal.",
        "The imaged portions of the brain ((show no abnormality|are within normal limits)).",
    ),
    "lung_apices": (
        "The lung apices are clear.",
        "Clear lung apices.",
        "No apical pulmonary nodule or mass.",
        "The imaged upper lungs are ((unremarkable|clear)).",
        "Lung apices show no suspicious lesion.",
    ),
    "cspine": (
        "Mild cervical spondylosis without a suspicious bone lesion.",
        "No destructive bone lesion in the neck.",
        "Cervical spine shows degenerative change only.",
        "The osseous structures of the neck are intact.",
        "Degenerative disc disease ((at C5-C6|at C5-C6 and C6-C7|at C6-C7)); no aggressive bone lesion.",
    ),
    "seminal_vesicles": (
        "The seminal vesicles are unremarkable.",
        "Normal seminal vesicles.",
        "Seminal vesicles are symmetric with preserved high T2 signal.",
        "No seminal vesicle invasion.",
        "The seminal vesicles ((are normal|show no abnormal signal)).",
    ),
    "rectum": (
        "The rectum is unremarkable.",
        "Normal rectum and mesorectal fat.",
        "No rectal wall abnormality.",
        "The rectum and sigmoid colon appear normal.",
        "Rectum ((unremarkable|within normal limits)).",
    ),
    "pelvic_nodes": (
        "No pelvic lymphadenopathy.",
        "No enlarged pelvic lymph nodes.",
        "Pelvic sidewall and inguinal lymph nodes are not enlarged.",
        "There is no suspicious pelvic lymph node.",
        "No adenopathy in the pelvis ((or inguinal regions|or groins)).",
    ),
    "pelvic_bones": (
        "No suspicious bone marrow lesion.",
        "Normal marrow signal in the visualized bones.",
        "No focal osseous lesion in the pelvis.",
        "Bone marrow signal is ((normal|unremarkable)).",
        "The visualized pelvic bones show no suspicious lesion.",
    ),
})

# Benign incidentals by organ (label-neutral for any RADS or staging label unless a generator
# excludes them).
INCIDENTAL = banks("incidental", {
    "lungs:emphysema": (
        "Mild centrilobular emphysema, upper lobe predominant.",
        "((Mild|Moderate)) centrilobular and paraseptal emphysema.",
        "There is emphysema, predominantly in the upper lobes.",
        "Emphysematous changes ((in both upper lobes|bilaterally)).",
        "Background ((mild|moderate)) emphysema.",
    ),
    "lungs:atelectasis": (
        "Dependent atelectasis at both lung bases.",
        "Minor linear atelectasis in the ((lingula|right middle lobe)).",
        "Bibasilar subsegmental atelectasis.",
        "Mild dependent changes in both lower lobes, likely atelectasis.",
        "Linear scarring or atelectasis in the ((left lower lobe|right lower lobe)).",
    ),
    "lungs:granuloma": (
        "A few tiny calcified granulomas in the ((right|left)) upper lobe.",
        "Calcified granuloma in the ((right lower lobe|left upper lobe)).",
        "Scattered calcified granulomata, sequelae of prior granulomatous infection.",
        "Densely calcified ((3|4)) mm nodule, a granuloma.",
        "Old granulomatous disease with calcified nodules.",
    ),
    "heart:coronary": (
        "Mild coronary artery calcification.",
        "There is ((moderate|mild)) calcification of the coronary arteries.",
        "Coronary artery calcifications are present.",
        "Calcified atheroma in the LAD territory.",
        "Scattered coronary calcification ((is noted|noted)).",
    ),
    "thoracic_vessels:atherosclerosis": (
        "Atherosclerotic calcification of the aortic arch.",
        "Mild aortic atherosclerosis.",
        "Calcified plaque in the thoracic aorta, without aneurysm.",
        "The aorta is ((tortuous|mildly ectatic)) with atherosclerotic calcification.",
        "Aortic and great vessel calcification.",
    ),
    "upper_abdomen:hiatal": (
        "Small hiatal hernia.",
        "There is a small sliding hiatus hernia.",
        "Moderate hiatal hernia.",
        "A hiatal hernia is present.",
        "Small ((sliding|axial)) hiatal hernia is incidentally noted.",
    ),
    "bones:degenerative": (
        "Multilevel degenerative disc disease of the thoracic spine.",
        "Degenerative changes of the spine with anterior osteophytes.",
        "Mild thoracolumbar spondylosis.",
        "Degenerative endplate changes at several levels.",
        "Spondylotic change ((throughout|in the lower thoracic spine)).",
    ),
    "bones:hemangioma": (
        "Vertebral body hemangioma at ((T11|L2|T8)).",
        "Typical vertebral hemangioma with coarse vertical trabeculae ((in T10|in L1)).",
        "Incidental benign-appearing vertebral hemangioma.",
        "Small fat-containing hemangioma in a lumbar vertebral body.",
        "A vertebral hemangioma is noted ((at L3|at T12)).",
    ),
    "liver:cyst": (
        "Simple hepatic cyst in segment ((VI|VII|II)), {small}.",
        "A {small} water-attenuation cyst in the ((right|left)) hepatic lobe.",
        "Small hepatic cyst, too small to characterize ((but likely benign|but statistically benign)).",
        "Hepatic cyst measuring {small}.",
        "There is a {small} simple cyst in the liver.",
    ),
    "liver:steatosis": (
        "Diffuse hepatic steatosis.",
        "The liver is diffusely low in attenuation, consistent with fatty infiltration.",
        "Mild hepatic steatosis.",
        "Fatty liver.",
        "Hepatic steatosis ((without focal lesion|with focal fatty sparing near the gallbladder fossa)).",
    ),
    "gallbladder:stones": (
        "Cholelithiasis without evidence of cholecystitis.",
        "Several gallstones; no gallbladder wall thickening.",
        "Gallstones are present.",
        "A ((single|few)) calcified gallstone((s|)) without pericholecystic inflammation.",
        "Uncomplicated cholelithiasis.",
    ),
    "gallbladder:removed": (
        "Status post cholecystectomy.",
        "The gallbladder has been removed.",
        "Prior cholecystectomy; mild post-cholecystectomy ductal prominence.",
        "Surgically absent gallbladder.",
        "Cholecystectomy clips in place.",
    ),
    "kidneys:cyst": (
        "Simple cyst in the ((right|left)) kidney measuring {small}.",
        "((Right|Left)) renal cortical cyst, {small}, water attenuation.",
        "Several small simple renal cysts.",
        "A {small} Bosniak I cyst in the ((upper|lower)) pole of the ((right|left)) kidney.",
        "Bilateral simple renal cysts, the largest {small}.",
    ),
    "kidneys:stone": (
        "Nonobstructing ((3|4|5)) mm calculus in the ((right|left)) lower pole.",
        "Small nonobstructing renal stone on the ((right|left)).",
        "((Right|Left)) nephrolithiasis without hydronephrosis.",
        "Punctate nonobstructing renal calculi bilaterally.",
        "A small calcification in the ((left|right)) renal collecting system, likely a stone.",
    ),
    "bowel:diverticulosis": (
        "Sigmoid diverticulosis without diverticulitis.",
        "Colonic diverticulosis.",
        "Uncomplicated diverticulosis of the ((sigmoid|descending)) colon.",
        "Scattered colonic diverticula, no inflammatory change.",
        "Diverticular disease of the sigmoid colon.",
    ),
    "abd_vessels:atherosclerosis": (
        "Atherosclerotic calcification of the abdominal aorta and iliac arteries without aneurysm.",
        "Moderate aortoiliac atherosclerosis.",
        "Calcified plaque in the abdominal aorta.",
        "Mild atherosclerotic disease of the aorta.",
        "Aortoiliac calcified atheroma ((without aneurysm|, no aneurysmal dilatation)).",
    ),
    "abd_wall:hernia": (
        "Small fat-containing umbilical hernia.",
        "Fat-containing ((left|right)) inguinal hernia.",
        "Small paraumbilical hernia containing fat only.",
        "Tiny umbilical hernia.",
        "There is a small fat-containing ventral hernia.",
    ),
    "cspine:spondylosis": (
        "Moderate cervical spondylosis with disc osteophyte complexes.",
        "Degenerative change of the cervical spine, most marked at C5-C6.",
        "Cervical spondylosis.",
        "Uncovertebral and facet arthropathy in the lower cervical spine.",
        "Mild degenerative changes of the cervical spine ((without aggressive lesion|only)).",
    ),
    "skull_base:sinus": (
        "Mild mucosal thickening in the ((right|left)) maxillary sinus.",
        "Mucus retention cyst in the ((left|right)) maxillary sinus.",
        "Minor paranasal sinus mucosal disease.",
        "Small retention cyst of a maxillary sinus.",
        "Mild ethmoid mucosal thickening.",
    ),
    "pelvic_organs:fibroid": (
        "Calcified uterine fibroid.",
        "Enlarged lobulated uterus, likely fibroids.",
        "Small intramural leiomyoma.",
        "The uterus contains ((a|two)) small fibroid((s|)).",
        "Fibroid uterus.",
    ),
    "pelvic_organs:prostate": (
        "Mildly enlarged prostate.",
        "Prostatomegaly.",
        "Enlarged prostate with median lobe impressing on the bladder base.",
        "The prostate is enlarged ((with coarse calcifications|)).",
        "Benign-appearing prostatic calcifications.",
    ),
})

# Findings that look like another RADS system's territory but are not assessed by it (an incidental
# breast nodule on CT gets no BI-RADS category; an incidental thyroid nodule on CT no TI-RADS level).
LOOKALIKE = banks("lookalike", {
    "breast_on_ct": (
        "Incidental {small} ((oval|round)) soft-tissue nodule in the ((right|left)) breast; correlation with mammography is recommended.",
        "There is a {small} nodular density in the ((right|left)) breast ((upper outer quadrant|retroareolar region)). Dedicated breast imaging is suggested if not recently performed.",
        "Asymmetric soft tissue in the ((left|right)) breast, nonspecific on CT; correlate with breast imaging.",
        "{small} enhancing nodule in the ((left|right)) breast, incompletely evaluated on CT; recommend dedicated breast evaluation.",
        "Incidentally noted ((right|left)) breast nodule measuring {small}, for correlation with mammography and ultrasound.",
    ),
    "thyroid_on_ct": (
        "Incidental {medium} hypodense nodule in the ((right|left)) thyroid lobe; dedicated thyroid ultrasound is recommended.",
        "There is a {medium} ((hypoattenuating|heterogeneous)) nodule in the ((left|right)) lobe of the thyroid. Recommend thyroid ultrasound if not previously evaluated.",
        "The thyroid contains a {medium} nodule ((on the right|on the left)), incompletely characterized on CT.",
        "{medium} ((left|right)) thyroid nodule, for nonurgent ultrasound evaluation.",
        "Incidental thyroid nodule ({medium}) in the ((left|right)) lobe.",
    ),
    "lung_nodule_nonscreening": (
        "Incidental {tiny} solid nodule in the {lobe}. Per Fleischner Society guidelines, ((optional CT at 12 months|no routine follow-up)) is advised in a low-risk patient.",
        "{tiny} ((solid|noncalcified)) pulmonary nodule in the {lobe}, follow-up per Fleischner Society recommendations.",
        "A {tiny} nodule in the {lobe}; in a high-risk patient, ((optional|consider)) follow-up CT at 12 months (Fleischner 2017).",
        "Small indeterminate {tiny} nodule, {lobe}.",
        "There is a {tiny} noncalcified nodule in the {lobe}, likely benign given its size.",
    ),
    "liver_lesion_noncirrhotic": (
        "{small} hypoattenuating liver lesion in segment ((VI|VII|IVa)), too small to characterize.",
        "Indeterminate {small} hypodense lesion in the ((right|left)) hepatic lobe; MRI could be considered for characterization.",
        "A {small} arterially enhancing lesion in segment ((V|VIII)) that fades to isodensity, likely a flash-filling hemangioma or perfusion anomaly.",
        "Small hepatic lesion measuring {small}, statistically likely benign in this non-cirrhotic liver.",
        "{small} focal lesion in the liver, likely a cyst, below CT characterization.",
    ),
    "adnexa_on_ct": (
        "Simple-appearing {medium} ((left|right)) adnexal cyst.",
        "There is a {medium} thin-walled cystic structure in the ((right|left)) adnexa, likely a physiologic cyst.",
        "((Right|Left)) ovarian cyst measuring {medium} ((without solid component|, fluid attenuation)).",
        "Fluid-attenuation {medium} cystic lesion in the ((left|right)) adnexa; pelvic ultrasound may be obtained if clinically indicated.",
        "Incidental {medium} ((left|right)) ovarian cyst.",
    ),
    "coronary_on_ct": (
        "Moderate coronary artery calcification ((involving the LAD|in the LAD and RCA|in the left main and LAD)).",
        "Dense coronary artery calcifications; this is a non-gated study and stenosis cannot be assessed.",
        "Coronary atherosclerotic calcification is present ((in three vessels|in the LAD)).",
        "Severe calcification of the coronary arteries.",
        "Coronary artery calcification, ((mild|moderate)), on this non-gated exam.",
    ),
    "bladder_on_ct": (
        "Mild circumferential bladder wall thickening, possibly related to underdistension.",
        "Focal ((right|left)) lateral bladder wall thickening; correlate with cystoscopy.",
        "The bladder wall appears ((trabeculated|mildly thickened)), nonspecific in an underdistended bladder.",
        "Apparent bladder wall thickening, likely due to incomplete distension.",
        "Irregular bladder wall thickening of uncertain significance; cystoscopic correlation advised.",
    ),
    "prostate_on_ct": (
        "The prostate is enlarged, measuring {medium} in transverse dimension.",
        "Enlarged prostate gland indenting the bladder base.",
        "Heterogeneous, enlarged prostate, nonspecific on CT.",
        "Prostatomegaly with intravesical protrusion.",
        "The prostate gland is ((prominent|enlarged)) with scattered calcifications.",
    ),
})

COMPARISON = banks("comparison", {
    "none": (
        "None.",
        "No prior imaging available for comparison.",
        "No previous studies.",
        "None available.",
        "There are no prior examinations for comparison.",
    ),
    "prior": (
        "{prior} from {ago}.",
        "Prior {prior} ({ago}).",
        "Compared with {prior} performed {ago}.",
        "{prior}, {ago}, is available for comparison.",
        "Comparison is made with the {prior} of {ago}.",
        "The {prior} obtained {ago} was reviewed.",
    ),
})

_AGO = ("3 months earlier", "6 months earlier", "12 months earlier", "one year ago", "two years ago", "4 months ago",
        "18 months earlier", "last year", "about a year ago")
LOBES = ("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "lingula", "left lower lobe")


def ago(r: random.Random) -> str:
    return r.choice(_AGO)


def fill_sizes(r: random.Random, unit: str) -> dict[str, str]:
    """Slots most incidental banks use: {small} 5-18 mm, {medium} 15-35 mm, {tiny} 3-6 mm, {lobe}."""
    return {"small": size(r.randint(5, 18), unit), "medium": size(r.randint(15, 35), unit),
            "tiny": size(r.randint(3, 6), unit), "lobe": r.choice(LOBES)}


def organ_paragraph(w: Writer, organ: str, incidentals: list[str], unit: str) -> tuple[str, list[str]]:
    """One organ: its heading and either the normal statement or the given incidental kinds
    ("kidneys:cyst") and look-alikes ("lookalike:breast_on_ct")."""
    heading = w.r.choice(HEADINGS[organ])
    if not incidentals:
        out = [w.say(NORMAL[organ])]
        n = int(w.r.random() < verbose_p(w)) + int(w.verbosity == "verbose" and w.r.random() < 0.5)
        for _ in range(n if organ in DETAIL else 0):
            out.append(w.say(DETAIL[organ], duct=w.r.randint(3, 6), spleen=round(w.r.uniform(8, 12), 1)))
        out = list(dict.fromkeys(out))
        return heading, out
    out = []
    for kind in incidentals:
        slots = fill_sizes(w.r, unit)
        out.append(w.say(LOOKALIKE[kind.split(":", 1)[1]] if kind.startswith("lookalike:") else INCIDENTAL[kind], **slots))
    return heading, out


def incidental_kinds(organ: str) -> list[str]:
    return [k for k in INCIDENTAL if k.split(":")[0] == organ]


def body_paragraphs(w: Writer, organs: list[str], *, unit: str, p_incidental: float,
                    allowed: set[str] | None = None, extra: dict[str, list[str]] | None = None) -> list[tuple[str, list[str]]]:
    """Organ paragraphs in order. Each organ gets a benign incidental (of the ``allowed`` kinds, all
    if None) with probability ``p_incidental``; ``extra`` forces kinds onto organs."""
    extra = extra or {}
    out = []
    for organ in organs:
        kinds = list(extra.get(organ, []))
        pool = [k for k in incidental_kinds(organ) if allowed is None or k in allowed]
        if not kinds and pool and w.r.random() < p_incidental:
            kinds.append(w.r.choice(pool))
        out.append(organ_paragraph(w, organ, kinds, unit))
    return out


CHEST_ORGANS = ["lungs", "airways", "pleura", "heart", "mediastinum", "thoracic_vessels", "chest_wall", "upper_abdomen", "bones"]
ABDOMEN_ORGANS = ["liver", "gallbladder", "pancreas", "spleen", "adrenals", "kidneys", "bowel", "bladder", "pelvic_organs",
                  "abd_nodes", "abd_vessels", "peritoneum", "abd_wall", "bones"]
NECK_ORGANS = ["aerodigestive", "salivary", "thyroid_ct", "neck_vessels", "skull_base", "lung_apices", "cspine"]

# Technique lines shared by several exams.
TECHNIQUE = banks("technique", {
    "ct_contrast": (
        "Axial CT images were obtained ((through|of)) the {region} after intravenous administration of {ml} mL of iodinated contrast. Coronal and sagittal reformats were reviewed.",
        "Helical CT of the {region} with intravenous contrast ({ml} mL Omnipaque 350), portal venous phase. Multiplanar reconstructions.",
        "Contrast-enhanced CT of the {region}. {ml} mL of nonionic contrast was given intravenously without complication.",
        "CT {region} following IV contrast; thin-section axial images with coronal and sagittal MPRs. Automated exposure control and iterative reconstruction were used to reduce dose.",
        "Following the uneventful intravenous injection of {ml} mL of contrast medium, contiguous axial sections of the {region} were acquired and reformatted in three planes.",
        "Routine contrast-enhanced protocol of the {region}; oral contrast was ((not given|administered)). Dose-reduction techniques were applied.",
    ),
    "ct_plain": (
        "Noncontrast axial CT images of the {region} with multiplanar reformats.",
        "CT of the {region} without intravenous contrast.",
        "Unenhanced helical CT of the {region}; coronal and sagittal reconstructions were generated.",
        "Axial images through the {region} were obtained without contrast, with dose modulation.",
        "Non-contrast CT {region}, thin sections, soft tissue and lung windows.",
    ),
    "mri_sequences": (
        "Multiplanar, multisequence MRI including T1-weighted, T2-weighted and diffusion-weighted imaging{contrast}.",
        "Sequences: axial and coronal T2-weighted, axial T1-weighted in- and opposed-phase, DWI (b 50/800){contrast}.",
        "MRI performed at ((1.5|3)) T with T2W, T1W and DWI sequences{contrast}.",
        "Standard protocol: T2-weighted images in three planes, axial T1-weighted images and diffusion-weighted imaging with ADC map{contrast}.",
        "A ((1.5|3)) tesla multiparametric examination was performed (T2W, DWI/ADC{contrast}).",
    ),
})

# A second, complementary sentence for an organ reported normal (verbose reports carry more).
DETAIL = banks("detail", {
    "lungs": ("No interstitial lung disease or bronchiectasis.", "There is no ((mosaic attenuation|air trapping)) or consolidation.",
              "The fissures are normal in position.", "No cavitation or ((endobronchial|central)) lesion.", "Normal lung volumes."),
    "airways": ("No bronchial wall thickening.", "No mucus plugging.", "The segmental bronchi are clear.", "Normal tracheal caliber.",
                "No tracheobronchomalacia on this inspiratory study."),
    "pleura": ("No pleural plaques or calcification.", "The pleura is smooth.", "No pleural nodularity.", "The costophrenic recesses are clear.",
               "No loculated pleural fluid."),
    "heart": ("No pericardial thickening.", "The cardiac valves are not calcified.", "No coronary artery calcification is evident.",
              "Normal caliber of the pulmonary veins.", "The left atrium is not enlarged."),
    "mediastinum": ("The esophagus is unremarkable.", "The thymic region contains only fat.", "No hilar mass.",
                    "No mediastinal mass.", "Mediastinal fat planes are preserved."),
    "thoracic_vessels": ("No central pulmonary embolus on this nondedicated study.", "Conventional three-vessel aortic arch.",
                         "The SVC and brachiocephalic veins are patent.", "No aortic dissection.", "No aberrant vessels."),
    "chest_wall": ("No axillary lymphadenopathy.", "The thoracic musculature is symmetric.", "No subcutaneous collection.",
                   "Breast tissue appears symmetric on CT.", "No chest wall mass."),
    "upper_abdomen": ("The imaged adrenal glands are normal.", "No upper abdominal lymphadenopathy.", "The imaged spleen is not enlarged.",
                      "The visible kidneys are unremarkable.", "No ascites in the upper abdomen."),
    "bones": ("Vertebral body heights are maintained.", "No fracture.", "No lytic or blastic lesion.", "Mild ((facet|endplate)) degenerative change.",
              "Normal bone mineralization for age."),
    "liver": ("The hepatic and portal veins are patent.", "No intrahepatic biliary dilatation.", "The liver contour is smooth.",
              "No hepatic steatosis.", "Normal hepatic attenuation."),
    "gallbladder": ("The common duct measures {duct} mm.", "No pericholecystic fluid.", "No radiopaque gallstones.", "The gallbladder wall is thin.",
                    "The extrahepatic bile duct is of normal caliber."),
    "pancreas": ("No peripancreatic fluid.", "The pancreatic duct measures less than 3 mm.", "No pancreatic calcifications.",
                 "Normal pancreatic lobulation for age.", "No cystic pancreatic lesion."),
    "spleen": ("The splenic vein is patent.", "Spleen length {spleen} cm.", "No splenic lesion.", "No perisplenic fluid.", "Homogeneous splenic enhancement."),
    "adrenals": ("No adrenal thickening.", "Adrenal limbs are thin.", "No adrenal hemorrhage.", "Adrenal glands are symmetric.", "No adrenal mass on either side."),
    "kidneys": ("Normal corticomedullary differentiation.", "No perinephric stranding.", "No renal or ureteric calculi.", "The ureters are of normal caliber.",
                "Symmetric nephrographic enhancement and prompt excretion."),
    "bowel": ("No free air.", "The appendix is normal.", "No bowel wall thickening or pneumatosis.", "The stomach is normally distended.",
              "Normal small bowel caliber."),
    "bladder": ("The bladder wall is not thickened.", "No bladder calculus.", "No perivesical stranding.", "The bladder base is smooth.",
                "Bladder contour is smooth."),
    "abd_vessels": ("The portal venous system is patent.", "The IVC is normal.", "Renal arteries are single bilaterally.", "No retroperitoneal hematoma.",
                    "Celiac and SMA origins are patent."),
    "abd_nodes": ("No mesenteric lymphadenopathy.", "No para-aortic adenopathy.", "No enlarged pelvic sidewall nodes.", "No inguinal adenopathy.",
                  "Retroperitoneal nodes are subcentimeter."),
})

TECH_EXTRA = banks("tech_extra", {
    "dose": ("Dose reduction: automated exposure control, adjustment of mA and kV to patient size, and iterative reconstruction.",
             "Radiation dose: CTDIvol {ctdi} mGy, DLP {dlp} mGy-cm.", "Total DLP {dlp} mGy-cm.",
             "All CT scans at this facility use dose optimization techniques.", "Dose report: DLP {dlp} mGy-cm; CTDIvol {ctdi} mGy.",
             "The study was performed with ALARA dose-reduction measures."),
    "quality": ("Image quality is diagnostic.", "The study is of diagnostic quality.", "Mild motion artifact does not limit interpretation.",
                "Images are of good technical quality.", "Diagnostic image quality with minor respiratory motion.", "Technically adequate examination."),
    "mri_params": ("Sagittal T2-weighted TSE (TR 4000 ms, TE 90 ms), slice thickness 3 mm.", "Axial T1-weighted gradient echo, TR/TE 5/2.3 ms.",
                   "Field strength 3 T; phased-array surface coil.", "DWI b-values 0, 50 and 800 s/mm2 with ADC map.",
                   "Post-contrast T1-weighted fat-suppressed 3D gradient echo images at 20, 60 and 180 seconds.", "Slice thickness 3 mm, no gap; in-plane resolution 0.7 mm."),
    "us_equipment": ("Examination performed with a high-frequency linear transducer (12-5 MHz).", "A curved array transducer (5-1 MHz) was used.",
                     "Images were obtained by a registered sonographer and reviewed by the radiologist.", "Color and spectral Doppler settings were optimized for low flow.",
                     "Harmonic and compound imaging were used.", "Static images and cine clips were reviewed."),
    "review": ("Images were reviewed on a PACS workstation with multiplanar reformats.", "Axial source images and reconstructions were reviewed.",
               "Thin-section images were reviewed at a workstation.", "Images were reviewed in soft-tissue, lung and bone windows.",
               "Three-dimensional reconstructions were generated and reviewed."),
})
HIST_EXTRA = bank("hist_extra", (
    "Hypertension and type 2 diabetes.", "No known contrast allergy.", "Creatinine {cr} mg/dL.", "Past medical history of hyperlipidemia.",
    "Former smoker.", "Ex-smoker, {py} pack-years.", "Weight loss of {kg} kg over three months.", "No prior surgery.", "Chronic kidney disease stage 2.",
    "Atrial fibrillation on anticoagulation.", "ECOG performance status {ecog}.", "Referred by the oncology clinic.",
    "Referred by the primary care physician for further evaluation.", "No recent trauma or infection.", "Prior imaging reports were reviewed.",
    "Symptoms for {weeks} weeks.", "Allergies: none known.", "Renal function: eGFR {egfr} mL/min/1.73 m2.", "Medications include aspirin and a statin.",
))
CLOSING = bank("closing", (
    "No other significant abnormality.", "Otherwise unremarkable examination.", "Remaining findings as above, of no immediate clinical significance.",
    "No acute abnormality otherwise.", "The remainder of the study is within normal limits.", "Other findings are incidental and require no follow-up.",
))
SIGNOFF = bank("signoff", (
    "I have personally reviewed the images and agree with the findings of this report.", "Electronically signed by the attending radiologist.",
    "Report verified by the consultant radiologist.", "This report was generated with voice recognition software; minor transcription errors may be present.",
    "Findings were discussed with the referring clinician at the time of reporting.", "Preliminary report reviewed; no discrepancy.",
    "Results communicated to the ordering provider through the electronic health record.", "Final report; attending review complete.",
))


def modality(exam: str) -> str:
    """mri / us / ct / "" from an exam title."""
    if re.search(r"\bMRI?\b|\bMR |magnetic|mpMRI|MP-MRI|DCE-MRI", exam, re.I):
        return "mri"
    if re.search(r"ultraso|\bUS\b|sonogra|doppler|duplex", exam, re.I):
        return "us"
    if re.search(r"CT\b|\bCT|PET|computed tomography|LDCT|CCTA", exam, re.I):
        return "ct"
    return ""


def verbose_p(w: Writer) -> float:
    return {"terse": 0.15, "normal": 0.6, "verbose": 0.95}[w.verbosity]


def enrich(w: Writer, history: list[str], technique: list[str], findings: list[tuple[str | None, list[str]]], impression: list[str],
           *, ct: bool = True, modality: str = "") -> list[str]:
    """Add what fuller reports carry: comorbidities, dose and quality statements, a closing
    impression item; returns sign-off lines. Lists are extended in place."""
    r, p = w.r, verbose_p(w)
    slots = dict(ctdi=round(r.uniform(3, 14), 1), dlp=r.randint(150, 900), cr=round(r.uniform(0.6, 1.3), 1), py=r.randint(10, 60),
                 kg=r.randint(3, 12), ecog=r.randint(0, 2), weeks=r.randint(2, 12), egfr=r.randint(55, 110))
    for _ in range(r.choice((1, 2, 3)) if r.random() < p else 0):
        history.append(w.say(HIST_EXTRA, **slots))
    history[:] = list(dict.fromkeys(history))
    keys = (["dose"] if ct else []) + (["mri_params", "mri_params"] if modality == "mri" else []) + (["us_equipment"] if modality == "us" else []) \
        + ["quality", "review"]
    for key in keys:
        if r.random() < p * 0.8:
            technique.append(w.say(TECH_EXTRA[key], **slots))
    technique[:] = list(dict.fromkeys(technique))
    if impression and r.random() < p * 0.6:
        impression.append(w.say(CLOSING))
    sign = []
    if r.random() < p:
        sign.append(w.say(SIGNOFF))
    return sign


def extras(w: Writer, bank_ids: list[str], *, scale: float = 1.0, **slots: object) -> list[str]:
    """One sentence from each bank, each kept with the report's verbosity probability."""
    p = min(1.0, verbose_p(w) * scale)
    return [w.say(b, **slots) for b in bank_ids if w.r.random() < p]
