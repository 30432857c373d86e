"""v2 "No applicable RADS" reports: full reports of exams no RADS system covers.

Chest radiograph, head CT, knee MRI, lumbar spine MRI, acute abdominal CT, CT pulmonary
angiogram, neck CT for infection, diagnostic chest CT, renal mass CT (Bosniak), right upper
quadrant ultrasound, liver MRI in a non-cirrhotic patient, brain MRI. Several carry the traps the
task must resist: an incidental lung nodule with Fleischner follow-up (not Lung-RADS), an
incidental thyroid nodule on neck CT (no TI-RADS level), a breast nodule on chest CT (no BI-RADS
category), a liver lesion in a non-cirrhotic liver (LI-RADS does not apply), a Bosniak class,
"T1-weighted", "C5-C6", "Fazekas grade 2", "Modic type 1", "TR/TE" -- and, drawn by the composer,
a history line naming another system's earlier category.
"""

from __future__ import annotations

import random

from training.data.reports_v2.anatomy import (
    ABDOMEN_ORGANS,
    CHEST_ORGANS,
    LOBES,
    NECK_ORGANS,
    TECHNIQUE,
    body_paragraphs,
    extras,
)
from training.data.reports_v2.phrasing import banks, size
from training.data.reports_v2.rads_base import Ctx, Draft

EXAM = banks("none.exam", {
    "xr_chest": ("XR CHEST 2 VIEWS", "Chest radiograph, PA and lateral", "CHEST X-RAY PA/LAT", "Radiograph of the chest, two views", "CXR PA AND LATERAL",
                 "Chest, frontal and lateral"),
    "ct_head": ("CT HEAD WITHOUT CONTRAST", "Noncontrast CT brain", "CT HEAD NON-CONTRAST (STROKE PROTOCOL)", "Unenhanced CT of the head", "CT BRAIN PLAIN"),
    "mri_knee": ("MRI {SIDE} KNEE WITHOUT CONTRAST", "MR knee ({side})", "MRI KNEE {SIDE}, NON-ARTHROGRAM", "Magnetic resonance imaging of the {side} knee",
                 "{SIDE} KNEE MRI"),
    "mri_spine": ("MRI LUMBAR SPINE WITHOUT CONTRAST", "MR lumbar spine", "MRI L-SPINE", "Lumbosacral spine MRI, noncontrast", "MRI OF THE LUMBAR SPINE"),
    "ct_acute": ("CT ABDOMEN AND PELVIS WITH CONTRAST", "CT abdomen/pelvis with IV contrast", "CT A/P W CONTRAST", "Contrast-enhanced CT of the abdomen and pelvis",
                 "CT ABDOMEN PELVIS (ACUTE)"),
    "ctpa": ("CT ANGIOGRAPHY CHEST (PULMONARY EMBOLISM PROTOCOL)", "CTPA", "CT pulmonary angiogram", "CTA CHEST PE STUDY", "CT chest angiography for pulmonary embolism"),
    "ct_neck": ("CT NECK SOFT TISSUE WITH CONTRAST", "CT neck with IV contrast", "Contrast-enhanced CT of the neck", "CT SOFT TISSUES OF THE NECK", "CT NECK W CONTRAST"),
    "ct_chest": ("CT CHEST WITH CONTRAST", "CT thorax with IV contrast", "Contrast-enhanced CT of the chest", "CT CHEST W/O CONTRAST", "CT CHEST (DIAGNOSTIC)"),
    "ct_renal": ("CT ABDOMEN RENAL MASS PROTOCOL", "CT kidneys, pre- and post-contrast", "Multiphase renal CT", "CT UROGRAM / RENAL MASS", "CT of the kidneys with and without contrast"),
    "us_ruq": ("US ABDOMEN RIGHT UPPER QUADRANT", "Ultrasound of the right upper quadrant", "ABDOMINAL ULTRASOUND, LIMITED", "RUQ ultrasound", "Liver and gallbladder ultrasound"),
    "mri_liver": ("MRI LIVER WITH AND WITHOUT CONTRAST", "MRI abdomen (liver) with gadolinium", "Liver MRI, lesion characterization", "MRI UPPER ABDOMEN",
                  "MR liver dynamic"),
    "mri_brain": ("MRI BRAIN WITH AND WITHOUT CONTRAST", "MR head with gadolinium", "MRI OF THE BRAIN", "Brain MRI, pre- and post-contrast", "MRI HEAD"),
})
TECH = banks("none.tech", {
    "xr_chest": ("PA and lateral views of the chest.", "Frontal and lateral projections.", "Two views of the chest, upright.", "Erect PA and left lateral radiographs.",
                 "Standard two-view chest radiograph."),
    "ct_head": ("Axial 5 mm images from the skull base to the vertex without contrast, with bone and soft-tissue algorithms.", "Noncontrast helical CT of the head; coronal and sagittal reformats.",
                "Unenhanced axial CT of the brain.", "Contiguous axial slices of the head without intravenous contrast.", "CT head performed without contrast per protocol."),
    "mri_knee": ("Sagittal T1-weighted and proton-density fat-saturated images, coronal and axial PD fat-saturated sequences.", "Standard knee protocol at ((1.5|3)) T: PD, T2 fat-sat and T1 sequences in three planes.",
                 "Multiplanar MRI of the knee, no contrast (TR/TE 3000/30 for PD images).", "Routine noncontrast knee MRI.", "PD-weighted fat-suppressed and T1-weighted images of the knee."),
    "mri_spine": ("Sagittal T1, T2 and STIR, axial T2-weighted images from T12 to S1.", "Routine lumbar spine protocol (sagittal T1W/T2W, axial T2W).",
                  "Multiplanar multisequence MRI of the lumbar spine without contrast.", "Noncontrast MRI of the lumbosacral spine.", "Sagittal and axial T1- and T2-weighted sequences."),
    "ct_renal": ("Noncontrast, corticomedullary, nephrographic and excretory phase images of the kidneys.", "Multiphase renal protocol CT with {ml} mL contrast.",
                 "Pre- and post-contrast CT of the kidneys with 2.5 mm sections.", "Renal mass protocol CT.", "Unenhanced and nephrographic-phase images of the abdomen."),
    "us_ruq": ("Grayscale and color Doppler ultrasound of the right upper quadrant.", "Transabdominal ultrasound of the liver, gallbladder and bile ducts.",
               "Real-time sonography of the upper abdomen after fasting.", "Limited abdominal ultrasound, right upper quadrant.", "Ultrasound of the liver and biliary tree."),
    "mri_brain": ("Sagittal T1, axial T2, FLAIR, DWI, SWI and post-gadolinium T1-weighted images.", "Standard brain protocol with and without contrast.",
                  "Multiplanar MRI of the brain before and after gadolinium, including 3D T1-weighted images.", "MRI head with DWI, FLAIR and contrast-enhanced T1.",
                  "Routine brain MRI, pre- and post-contrast."),
})
HIST = banks("none.hist", {
    "xr_chest": ("Cough and fever.", "Shortness of breath.", "{age}-year-old with chest pain.", "Preoperative evaluation.", "Follow-up pneumonia.", "Fall, rule out rib fracture."),
    "ct_head": ("Headache.", "Fall with head strike, on anticoagulation.", "Acute confusion.", "{age}-year-old with new left-sided weakness.", "Dizziness.", "Syncope."),
    "mri_knee": ("Twisting injury, medial joint line pain.", "Knee pain and locking.", "Instability after a sports injury.", "{age}-year-old with chronic knee pain.",
                 "Swelling after a fall.", "Suspected meniscal tear."),
    "mri_spine": ("Low back pain radiating to the {side} leg.", "Sciatica.", "Chronic low back pain, failed conservative therapy.", "{age}-year-old with {side} L5 radiculopathy.",
                  "Back pain and leg numbness.", "Lumbar radiculopathy."),
    "ct_acute": ("Right lower quadrant pain.", "Left lower quadrant pain and fever.", "Flank pain and hematuria.", "{age}-year-old with abdominal pain.", "Abdominal pain, leukocytosis.",
                 "Nausea and vomiting."),
    "ctpa": ("Shortness of breath, elevated D-dimer.", "Pleuritic chest pain.", "Tachycardia and hypoxia.", "{age}-year-old with dyspnea after surgery.", "Suspected pulmonary embolism.",
             "Chest pain, rule out PE."),
    "ct_neck": ("Neck swelling and fever.", "Sore throat and trismus.", "Tender neck mass.", "{age}-year-old with odynophagia.", "Suspected abscess.", "Neck pain after trauma."),
    "ct_chest": ("Chronic cough.", "Known sarcoidosis, follow-up.", "Dyspnea, evaluate for interstitial lung disease.", "{age}-year-old with hemoptysis.", "Abnormal chest radiograph.",
                 "Weight loss."),
    "ct_renal": ("Renal lesion on ultrasound.", "Characterize a {side} renal cyst.", "Complex renal cyst on prior CT.", "{age}-year-old with incidental renal lesion.",
                 "Follow-up renal cyst.", "Hematuria, renal lesion on ultrasound."),
    "us_ruq": ("Right upper quadrant pain.", "Abnormal liver function tests.", "Postprandial pain.", "{age}-year-old with epigastric pain.", "Jaundice.", "Fever and RUQ tenderness."),
    "mri_liver": ("Incidental liver lesion on ultrasound; no history of liver disease.", "Characterize a hepatic lesion in a healthy patient.", "{age}-year-old with a liver lesion, normal liver function.",
                  "Liver lesion on CT, no cirrhosis or malignancy.", "Hepatic lesion, oral contraceptive use.", "Follow-up of a liver lesion."),
    "mri_brain": ("Headaches.", "Numbness and visual disturbance.", "Seizure.", "{age}-year-old with vertigo.", "Memory loss.", "Paresthesias, evaluate for demyelination."),
})
F = banks("none.f", {
    # chest radiograph
    "xr_lungs_normal": ("The lungs are well expanded and clear.", "No focal consolidation, effusion or pneumothorax.", "Lungs clear, well expanded.", "Lungs are clear bilaterally.",
                        "No airspace disease."),
    "xr_heart_normal": ("Heart size and mediastinal contours are normal.", "Normal cardiomediastinal silhouette.", "The cardiac silhouette is not enlarged.",
                        "Cardiomediastinal contours within normal limits.", "Normal heart size."),
    "xr_bones": ("No acute osseous abnormality.", "Bones intact.", "Degenerative changes of the thoracic spine.", "No displaced rib fracture.", "Osseous structures unremarkable."),
    "xr_pneumonia": ("Consolidation in the {lobe} with air bronchograms.", "Patchy airspace opacity in the {lobe}.", "Focal opacity in the {lobe}, compatible with pneumonia.",
                     "Right basilar consolidation.", "New {lobe} airspace disease."),
    "xr_effusion": ("Small {side} pleural effusion with blunting of the costophrenic angle.", "Moderate {side} pleural effusion.", "{Side} effusion with basilar atelectasis.",
                    "Layering {side} pleural fluid.", "Small bilateral effusions."),
    "xr_chf": ("Cardiomegaly with pulmonary vascular congestion and interstitial edema.", "Enlarged heart, cephalization and Kerley B lines.", "Mild pulmonary edema and cardiomegaly.",
               "Interstitial edema with small bilateral effusions.", "Vascular congestion."),
    "imp_xr_normal": ("No acute cardiopulmonary process.", "Normal chest.", "No active disease.", "No acute abnormality.", "Normal radiograph."),
    "imp_xr_pneumonia": ("{Lobe} pneumonia.", "Findings consistent with pneumonia.", "Airspace disease, likely infectious.", "Pneumonia; follow-up radiograph after treatment.",
                         "Consolidation compatible with pneumonia."),
    "imp_xr_effusion": ("{Side} pleural effusion.", "Pleural effusion as described.", "Effusion, no pneumothorax.", "Small effusion.", "Pleural fluid on the {side}."),
    "imp_xr_chf": ("Congestive heart failure.", "Cardiomegaly with pulmonary edema.", "Findings of fluid overload.", "Pulmonary edema.", "CHF pattern."),
    # head CT
    "head_nohem": ("No intracranial hemorrhage or midline shift.", "There is no acute hemorrhage.", "No hemorrhage, mass or hydrocephalus.",
                   "No intra-axial or extra-axial blood.", "No acute intracranial blood products."),
    "head_noinfarct": ("Gray-white differentiation is preserved.", "No acute territorial infarct.", "No loss of gray-white matter differentiation.",
                       "No CT evidence of acute ischemia.", "Normal attenuation of the cerebral parenchyma."),
    "head_svd": ("Periventricular white matter hypodensities consistent with chronic small vessel ischemic disease (Fazekas grade {fz}).",
                 "Mild generalized atrophy and chronic microangiopathic change.", "Patchy white matter hypoattenuation, Fazekas {fz}.", "Age-related volume loss.",
                 "Chronic lacunar infarct in the {side} basal ganglia."),
    "head_infarct": ("Loss of gray-white differentiation in the {side} MCA territory; ASPECTS {aspects}.", "Hyperdense {side} MCA sign.",
                     "Early ischemic change in the {side} insular cortex.", "Acute infarct in the {side} frontal lobe.", "{Side} MCA territory hypoattenuation."),
    "head_sdh": ("Acute {side} subdural hematoma measuring {mm} mm with {shift} mm of midline shift.", "Crescentic hyperdense {side} subdural collection.",
                 "Thin acute subdural hemorrhage along the {side} convexity.", "{Side} hemispheric subdural hematoma.", "Mixed-density {side} subdural collection."),
    "imp_head_normal": ("No acute intracranial abnormality.", "Negative head CT.", "No hemorrhage or acute infarct.", "Unremarkable noncontrast head CT.", "No acute findings."),
    "imp_head_infarct": ("Acute {side} MCA territory infarct.", "Early ischemic changes, {side} MCA.", "Findings of acute stroke; discussed with the stroke team.",
                         "Acute ischemic infarct.", "{Side} hemispheric infarct."),
    "imp_head_sdh": ("Acute {side} subdural hematoma.", "Subdural hemorrhage with mass effect.", "{Side} SDH; neurosurgery notified.", "Acute subdural hematoma.",
                     "Subdural collection as described."),
    # knee MRI
    "knee_menisc": ("Horizontal oblique tear of the posterior horn of the medial meniscus extending to the inferior articular surface.",
                    "Grade 2 intrasubstance signal in the posterior horn of the lateral meniscus without a surface-reaching tear.",
                    "Complex tear of the medial meniscal body and posterior horn.", "Bucket-handle tear of the medial meniscus with a displaced fragment.",
                    "Radial tear of the lateral meniscus root."),
    "knee_lig": ("The anterior cruciate ligament is completely torn.", "Intact cruciate and collateral ligaments.", "Partial tear of the ACL.",
                 "Grade 1 sprain of the medial collateral ligament.", "The PCL is intact."),
    "knee_cart": ("Full-thickness chondral loss of the medial femoral condyle with subchondral bone marrow edema.", "Moderate tricompartmental chondrosis.",
                  "Small joint effusion and a Baker cyst.", "Mild patellofemoral chondromalacia.", "Marrow edema of the lateral tibial plateau (bone bruise)."),
    "imp_knee": ("Medial meniscal tear.", "Meniscal tear and ligament injury as described.", "Osteoarthritis with meniscal degeneration.",
                 "Findings as above, including meniscal tear.", "Internal derangement of the knee as described."),
    # lumbar spine
    "spine_levels": ("L4-L5: disc bulge with a superimposed {side} paracentral protrusion narrowing the {side} lateral recess and contacting the traversing L5 nerve root.",
                     "L5-S1: broad-based disc osteophyte complex with moderate bilateral foraminal narrowing.", "L3-L4: mild disc bulge; no canal stenosis.",
                     "L4-L5: moderate central canal stenosis from disc bulge and facet hypertrophy.", "Modic type 1 endplate changes at L4-L5."),
    "spine_align": ("Normal lumbar lordosis. Vertebral body heights are maintained.", "Alignment is anatomic.", "Grade 1 anterolisthesis of L4 on L5.",
                    "No fracture. Conus terminates at L1.", "Vertebral bodies preserved; conus at T12-L1."),
    "imp_spine": ("{Side} paracentral disc protrusion at L4-L5 with L5 root contact.", "Multilevel degenerative disc disease, most pronounced at L4-L5.",
                  "Lumbar spondylosis with foraminal stenosis.", "Degenerative changes as detailed.", "Disc disease with nerve root impingement."),
    # acute abdomen
    "appendicitis": ("The appendix is dilated to {mm} mm with wall enhancement and periappendiceal fat stranding.", "Fluid-filled, thick-walled appendix with an appendicolith.",
                     "Inflamed appendix measuring {mm} mm; no abscess.", "Acute appendicitis without perforation.", "Dilated appendix and surrounding inflammatory change."),
    "diverticulitis": ("Segmental wall thickening of the sigmoid colon with pericolonic fat stranding and diverticula.", "Sigmoid diverticulitis with a small extraluminal gas locule.",
                       "Inflamed sigmoid diverticulum without abscess.", "Acute uncomplicated diverticulitis of the descending colon.", "Pericolic inflammation around sigmoid diverticula."),
    "stone": ("{mm} mm obstructing calculus at the {side} ureterovesical junction with mild hydroureteronephrosis.", "{Side} proximal ureteral stone ({mm} mm) with perinephric stranding.",
              "Obstructing {side} ureteral calculus.", "{Side} hydronephrosis due to a distal ureteral stone.", "Ureteral stone on the {side} measuring {mm} mm."),
    "imp_appendicitis": ("Acute appendicitis.", "Findings consistent with acute appendicitis; surgical team informed.", "Appendicitis without abscess.",
                         "Uncomplicated appendicitis.", "Acute appendicitis, no perforation."),
    "imp_diverticulitis": ("Acute diverticulitis.", "Sigmoid diverticulitis without abscess.", "Uncomplicated diverticulitis.", "Diverticulitis as described.",
                           "Acute sigmoid diverticulitis."),
    "imp_stone": ("Obstructing {side} ureteral stone.", "{Side} ureterolithiasis with hydronephrosis.", "Ureteric calculus as described.", "Obstructive uropathy from a stone.",
                  "{Side} ureteral calculus."),
    # CTPA
    "pe_yes": ("Filling defects in the {side} lower lobe segmental and subsegmental pulmonary arteries.", "Saddle embolus extending into both main pulmonary arteries.",
               "Acute pulmonary emboli in the {side} main and lobar arteries.", "Segmental pulmonary embolism in the {side} upper lobe.", "Bilateral lobar pulmonary emboli."),
    "pe_no": ("No filling defect in the pulmonary arteries to the subsegmental level.", "No pulmonary embolism.", "The pulmonary arteries opacify well without embolus.",
              "Adequate opacification; no PE.", "No central or segmental embolus."),
    "rv": ("RV/LV ratio {rv}.", "No right heart strain.", "The right ventricle is not dilated.", "Straightening of the interventricular septum.", "Normal RV size."),
    "imp_pe_yes": ("Acute pulmonary embolism.", "Pulmonary emboli as described; findings communicated.", "Positive for PE.", "Acute PE.", "Pulmonary embolism, {side}."),
    "imp_pe_no": ("No pulmonary embolism identified.", "Negative CTPA.", "No PE.", "No evidence of pulmonary embolus.", "Negative for pulmonary embolism."),
    # neck CT
    "neck_abscess": ("Rim-enhancing {side} peritonsillar collection measuring {mm} mm.", "{Side} level II lymphadenitis with surrounding phlegmon.",
                     "Retropharyngeal edema without a drainable collection.", "Enlarged reactive {side} cervical lymph nodes, the largest {mm} mm in short axis.",
                     "{Side} submandibular abscess ({mm} mm)."),
    "imp_neck": ("{Side} peritonsillar abscess.", "Cervical lymphadenitis.", "Neck infection as described, no drainable abscess.", "Deep neck infection.",
                 "Inflammatory change in the neck."),
    # diagnostic chest CT
    "chest_ild": ("Subpleural reticulation and traction bronchiectasis, basal predominant, without honeycombing.", "Perilymphatic nodules and symmetric hilar lymphadenopathy, consistent with sarcoidosis.",
                  "Mosaic attenuation and bronchial wall thickening.", "Bilateral ground-glass opacities.", "Mild bronchiectasis in the lower lobes."),
    "imp_chest": ("Findings as described; no mass.", "Interstitial lung disease pattern.", "Sarcoidosis, stable.", "Airway disease.", "Nonspecific findings as described."),
    # renal CT
    "bosniak": ("{size} {side} renal cyst with a few thin septa and minimally thickened enhancing wall, Bosniak IIF.",
                "{Side} renal cyst ({size}) with thick irregular enhancing septa, Bosniak III.", "Homogeneous {size} hyperattenuating {side} renal lesion, Bosniak II.",
                "{size} {side} renal cyst with one thin septum, Bosniak class II.", "Bosniak IIF cyst of the {side} kidney, {size}."),
    "imp_bosniak": ("{Side} Bosniak renal cyst as described.", "Complex {side} renal cyst; follow-up per Bosniak classification.", "Bosniak cyst, {side} kidney.",
                    "Cystic renal lesion, Bosniak category as above.", "{Side} renal cyst, see classification."),
    # RUQ US
    "ruq": ("Multiple gallstones without gallbladder wall thickening or pericholecystic fluid.", "Gallbladder wall thickening, stones and a positive sonographic Murphy sign.",
            "Increased hepatic echogenicity, consistent with steatosis.", "The common bile duct measures {mm} mm.", "Sludge in the gallbladder."),
    "imp_ruq": ("Cholelithiasis without cholecystitis.", "Acute calculous cholecystitis.", "Hepatic steatosis.", "Gallstones.", "Findings as described."),
    # liver MRI non-cirrhotic
    "liver_benign": ("{size} lesion in segment {seg}, T2 hyperintense, with peripheral nodular discontinuous enhancement and centripetal fill-in, typical of a hemangioma.",
                     "{size} arterially enhancing lesion in segment {seg} with a central scar, iso- to hyperintense on the hepatobiliary phase, consistent with FNH.",
                     "Segment {seg} lesion ({size}) with intralesional fat and arterial enhancement, likely a hepatic adenoma.",
                     "Simple cyst in segment {seg}, {size}.", "{size} flash-filling hemangioma in segment {seg}."),
    "liver_bg": ("The liver is normal in size with a smooth contour; no steatosis or iron overload.", "Non-cirrhotic liver.", "Normal hepatic morphology.",
                 "Smooth liver contour, no features of cirrhosis.", "Background liver is normal."),
    "imp_liver": ("Benign hepatic lesion as described.", "Hemangioma.", "Focal nodular hyperplasia.", "Benign liver lesion; no follow-up needed.", "Characteristic benign lesion."),
    # brain MRI
    "brain": ("Multiple ovoid T2/FLAIR hyperintense periventricular lesions oriented perpendicular to the ventricles; one juxtacortical lesion.",
              "Scattered nonspecific T2 hyperintense foci in the subcortical white matter.", "No abnormal enhancement.", "No restricted diffusion in the brain.",
              "{size} extra-axial dural-based enhancing mass along the {side} convexity, likely a meningioma."),
    "imp_brain": ("Findings compatible with demyelinating disease.", "Nonspecific white matter lesions.", "Meningioma.", "No acute intracranial process on MRI.",
                  "White matter disease as described."),
})


X = banks("none.x", {
    "xr_mediastinum": ("The mediastinum is not widened.", "Normal hilar contours.", "Trachea midline on the frontal view.", "Mediastinal contours are unremarkable.",
                       "No hilar enlargement."),
    "xr_pleura": ("No pneumothorax.", "The costophrenic angles are sharp.", "No pleural thickening.", "No effusion or pneumothorax on either side.",
                  "Both hemidiaphragms are well defined."),
    "xr_soft": ("The soft tissues are unremarkable.", "No subcutaneous emphysema.", "Soft tissues within normal limits.",
                "No free air under the diaphragm.", "The upper abdomen is unremarkable."),
    "head_ventricles": ("The ventricles are normal in size and configuration.", "No hydrocephalus.", "Ventricular size is proportionate to the sulci.",
                        "The fourth ventricle is midline.", "No ventricular effacement."),
    "head_extraaxial": ("No extra-axial collection.", "No subdural or epidural hematoma.", "There is no extra-axial fluid.",
                        "No subarachnoid hemorrhage.", "Extra-axial spaces are unremarkable."),
    "head_sinus": ("The visualized paranasal sinuses and mastoid air cells are clear.", "Mild mucosal thickening of the ethmoid air cells.",
                   "The mastoids are well pneumatized.", "Paranasal sinuses clear.", "No air-fluid levels in the sinuses."),
    "head_calvarium": ("The calvarium is intact.", "No skull fracture.", "No calvarial lesion.", "The skull base is intact.",
                       "No acute fracture of the calvarium or face."),
    "head_vessels": ("Atherosclerotic calcification of the carotid siphons.", "No hyperdense vessel sign.", "Vascular calcifications in the cavernous carotids.",
                     "Intracranial vessels are unremarkable on noncontrast CT.", "Mild vertebrobasilar calcification."),
    "knee_extensor": ("The quadriceps and patellar tendons are intact.", "Extensor mechanism intact.", "Normal patellar tendon.",
                      "The patella is normally positioned.", "No patellar tendinopathy."),
    "knee_marrow": ("No fracture or bone contusion.", "Bone marrow signal is otherwise normal.", "No osteonecrosis.", "No marrow replacing lesion.",
                    "Marrow signal intensity is preserved."),
    "knee_collateral": ("The medial and lateral collateral ligaments are intact.", "Collateral ligaments are normal.", "The posterolateral corner structures are intact.",
                        "The iliotibial band is unremarkable.", "LCL complex intact."),
    "knee_soft": ("Small joint effusion.", "No popliteal cyst.", "Mild prepatellar soft-tissue edema.", "No loose body.", "Hoffa fat pad is normal."),
    "spine_conus": ("The conus medullaris terminates normally at L1 with normal signal.", "Normal conus and cauda equina.", "The distal cord is normal.",
                    "Cauda equina nerve roots are not clumped.", "Normal signal in the distal spinal cord."),
    "spine_upper": ("T12-L1 through L2-L3: no significant disc disease, canal or foraminal stenosis.", "Upper lumbar levels are unremarkable.",
                    "L1-L2 and L2-L3 are normal.", "No disc herniation at the upper lumbar levels.", "Normal upper lumbar discs."),
    "spine_paraspinal": ("The paraspinal soft tissues are normal.", "No paraspinal collection.", "Paraspinal musculature is unremarkable.",
                         "Retroperitoneum as imaged is unremarkable.", "Sacroiliac joints as imaged are normal."),
    "ruq_liver": ("The liver measures {liver} cm in craniocaudal length and is normal in echotexture.", "Normal liver size and echogenicity.",
                  "Hepatic contour is smooth; no focal lesion.", "The hepatic veins and portal vein are patent with normal flow direction.",
                  "Liver normal in size."),
    "ruq_other": ("The visualized pancreas is unremarkable.", "The right kidney measures {kid} cm without hydronephrosis.", "Spleen normal in size on ultrasound.",
                  "No free fluid in Morison pouch.", "The proximal aorta and IVC are unremarkable."),
    "brain_ventricles": ("Ventricles and sulci are normal for age.", "No hydrocephalus or midline shift.", "The ventricular system is normal.",
                         "Normal brain volume.", "Sulcal pattern appropriate for age."),
    "brain_vessels": ("Normal intracranial flow voids.", "The major vascular flow voids are preserved.", "The dural venous sinuses are patent.",
                      "No vascular malformation.", "Normal flow voids in the circle of Willis."),
    "brain_other": ("The pituitary gland and sella are normal.", "Orbits and paranasal sinuses are clear.", "The cerebellopontine angles are normal.",
                    "No abnormal susceptibility.", "The craniocervical junction is normal."),
})


def _s(r: random.Random, unit: str) -> dict:
    side = r.choice(("right", "left"))
    lobe = r.choice(LOBES)
    return dict(side=side, Side=side.capitalize(), SIDE=side.upper(), lobe=lobe, Lobe=lobe[0].upper() + lobe[1:], age=r.randint(20, 85), mm=r.randint(5, 14),
                shift=r.randint(2, 8), fz=r.choice((1, 2, 3)), aspects=r.randint(6, 10), rv=round(r.uniform(0.7, 1.3), 1), ml=r.choice((80, 100)),
                size=size(r.randint(8, 45), unit), seg=r.choice(("II", "III", "IVa", "V", "VI", "VII", "VIII")), region="",
                liver=round(r.uniform(13, 16.5), 1), kid=round(r.uniform(9.5, 12), 1))


def non_rads(ctx: Ctx, kind: str) -> Draft:
    """One report of exam ``kind`` (a key of :data:`EXAM`)."""
    w, r = ctx.w, ctx.r
    s = _s(r, ctx.unit)
    say = lambda key: w.say(F[key], **s)  # noqa: E731 -- a one-line shorthand over w and s

    def ex(keys: list[str], scale: float = 1.0) -> list[str]:
        return list(dict.fromkeys(extras(w, [X[k] for k in keys], scale=scale, **s)))

    exam = w.say(EXAM[kind], **s)
    history = [w.say(HIST[kind], **s)]
    lookalike = False
    if kind == "xr_chest":
        scen = r.choice(("normal", "pneumonia", "effusion", "chf"))
        lungs = [say("xr_lungs_normal")] if scen == "normal" else [say(f"xr_{scen}")]
        findings = [("Lungs", lungs), ("Heart", [say("xr_heart_normal") if scen != "chf" else say("xr_chf")] + ex(["xr_mediastinum"])),
                    ("Pleura", ex(["xr_pleura"]) if scen not in ("effusion", "chf") else []), ("Bones", [say("xr_bones")] + ex(["xr_soft"]))]
        imp = [say(f"imp_xr_{scen}")]
        technique = [w.say(TECH[kind])]
    elif kind == "ct_head":
        scen = r.choice(("normal", "svd", "infarct", "sdh"))
        base = {"normal": ["head_nohem", "head_noinfarct"], "svd": ["head_nohem", "head_noinfarct"], "infarct": ["head_nohem"], "sdh": ["head_noinfarct"]}[scen]
        findings = [("Brain", [say(k) for k in base] + ([say(f"head_{scen}")] if scen != "normal" else []) + ex(["head_ventricles", "head_vessels"]) +
                     (ex(["head_extraaxial"]) if scen != "sdh" else [])), ("Skull", ex(["head_calvarium", "head_sinus"], 1.4))]
        imp = [say({"normal": "imp_head_normal", "svd": "imp_head_normal", "infarct": "imp_head_infarct", "sdh": "imp_head_sdh"}[scen])]
        technique = [w.say(TECH[kind])]
    elif kind == "mri_knee":
        findings = [("Menisci", [say("knee_menisc")]), ("Ligaments", [say("knee_lig")] + ex(["knee_collateral"], 1.3)), ("Cartilage", [say("knee_cart")]),
                    ("Extensor mechanism", ex(["knee_extensor"], 1.3)), ("Bone marrow", ex(["knee_marrow"], 1.3)), ("Soft tissues", ex(["knee_soft"]))]
        imp = [say("imp_knee")]
        technique = [w.say(TECH[kind])]
    elif kind == "mri_spine":
        findings = [("Alignment", [say("spine_align")]), ("Conus", ex(["spine_conus"], 1.3)),
                    ("Levels", ex(["spine_upper"], 1.3) + list(dict.fromkeys(say("spine_levels") for _ in range(r.choice((1, 2, 3)))))),
                    ("Paraspinal", ex(["spine_paraspinal"]))]
        imp = [say("imp_spine")]
        technique = [w.say(TECH[kind])]
    elif kind in ("ct_acute", "ct_renal", "us_ruq"):
        if kind == "ct_acute":
            scen = r.choice(("appendicitis", "diverticulitis", "stone"))
            key_organ = {"appendicitis": "bowel", "diverticulitis": "bowel", "stone": "kidneys"}[scen]
            main = [say(scen)]
            imp = [say(f"imp_{scen}")]
            technique = [w.say(TECHNIQUE["ct_contrast"], region="abdomen and pelvis", ml=s["ml"])]
            organs = ABDOMEN_ORGANS
        elif kind == "ct_renal":
            key_organ, main, imp = "kidneys", [say("bosniak")], [say("imp_bosniak")]
            technique = [w.say(TECH[kind], **s)]
            organs = ABDOMEN_ORGANS[:9]
        else:
            key_organ, main, imp = "gallbladder", [say("ruq")] + ex(["ruq_liver", "ruq_other", "ruq_other"], 1.2), [say("imp_ruq")]
            technique = [w.say(TECH[kind])]
            organs = ["liver", "gallbladder", "pancreas", "spleen", "kidneys"]
        extra = {}
        if ctx.lookalike and kind != "us_ruq":
            extra = {"pelvic_organs": [r.choice(("lookalike:adnexa_on_ct", "lookalike:prostate_on_ct", "lookalike:bladder_on_ct"))]} if "pelvic_organs" in organs else \
                    {"liver": ["lookalike:liver_lesion_noncirrhotic"]}
            lookalike = True
        paras = body_paragraphs(w, [o for o in organs if o != key_organ], unit=ctx.unit, p_incidental=0.15,
                                allowed={"liver:cyst", "liver:steatosis", "kidneys:cyst", "bowel:diverticulosis", "abd_vessels:atherosclerosis", "bones:degenerative"},
                                extra=extra)
        findings = [(key_organ.capitalize(), main)] + paras
    elif kind in ("ctpa", "ct_chest"):
        if kind == "ctpa":
            pe = r.random() < 0.5
            main = ("Pulmonary arteries", [say("pe_yes" if pe else "pe_no"), say("rv")])
            imp = [say("imp_pe_yes" if pe else "imp_pe_no")]
            technique = [w.say(TECHNIQUE["ct_contrast"], region="chest (pulmonary arterial phase)", ml=s["ml"])]
        else:
            main = ("Lungs", [say("chest_ild")])
            imp = [say("imp_chest")]
            technique = [w.say(TECHNIQUE["ct_contrast"], region="chest", ml=s["ml"])]
        extra = {}
        if ctx.lookalike or r.random() < 0.4:  # Fleischner nodules, breast and thyroid nodules, coronary calcium on a non-gated CT
            organ, look = r.choice((("lungs", "lung_nodule_nonscreening"), ("chest_wall", "breast_on_ct"), ("mediastinum", "thyroid_on_ct"),
                                    ("heart", "coronary_on_ct")))
            extra = {organ: [f"lookalike:{look}"]}
            lookalike = True
        organs = [o for o in CHEST_ORGANS if not (kind == "ct_chest" and o == "lungs")]
        findings = [main] + body_paragraphs(w, organs, unit=ctx.unit, p_incidental=0.15,
                                            allowed={"lungs:emphysema", "lungs:atelectasis", "lungs:granuloma", "upper_abdomen:hiatal", "bones:degenerative"},
                                            extra=extra)
        if extra and "lookalike:lung_nodule_nonscreening" in extra.get("lungs", []):
            imp.append(w.say(F["imp_chest"], **s) if kind == "ct_chest" else w.say("lookalike.lung_nodule_nonscreening", tiny=size(r.randint(3, 6), ctx.unit), lobe=s["lobe"]))
    elif kind == "ct_neck":
        main = ("Neck", [say("neck_abscess")])
        imp = [say("imp_neck")]
        technique = [w.say(TECHNIQUE["ct_contrast"], region="neck", ml=s["ml"])]
        extra = {"thyroid_ct": ["lookalike:thyroid_on_ct"]} if ctx.lookalike or r.random() < 0.4 else {}
        lookalike = bool(extra)
        findings = [main] + body_paragraphs(w, NECK_ORGANS, unit=ctx.unit, p_incidental=0.2, allowed={"skull_base:sinus", "cspine:spondylosis"}, extra=extra)
        if extra:
            imp.append(w.say("lookalike.thyroid_on_ct", medium=size(r.randint(15, 30), ctx.unit)))
    elif kind == "mri_liver":
        findings = [("Liver", [say("liver_bg"), say("liver_benign")])] + body_paragraphs(
            w, ["gallbladder", "pancreas", "spleen", "adrenals", "kidneys", "bones"], unit=ctx.unit, p_incidental=0.15,
            allowed={"kidneys:cyst", "gallbladder:stones"})
        imp = [say("imp_liver")]
        technique = [w.say(TECHNIQUE["mri_sequences"], contrast=", and dynamic imaging after gadolinium")]
    elif kind == "mri_brain":
        findings = [("Brain", list(dict.fromkeys([say("brain"), say("brain")])) + ex(["brain_ventricles", "brain_vessels", "brain_other"], 1.3))]
        imp = [say("imp_brain")]
        technique = [w.say(TECH[kind])]
    else:
        raise ValueError(kind)
    findings = [(h, x) for h, x in findings if x]
    return Draft(exam, "", history=history, technique=technique, findings=findings, impression=imp, recommendation=[],
                 prior_exam="", lookalike_used=lookalike, features={"exam": kind})


NON_RADS_KINDS = tuple(EXAM)
