"""The guideline passage each rule implements, as data (doc ids of the indexed open-medicine corpus).

``doc_id`` and ``title`` are those of the indexed document (``cra index guidelines --corpus
open-medicine``); ``section`` is the section path of the passage the rule reads, as the index
stores it. Where the corpus summary names a tool but not its numbers (KFRE, PREVENT, the PCE
coefficients, BMI classes), ``reference`` names the publication the numbers come from; a rule
whose guideline is not in the corpus at all has an empty ``doc_id``.
"""

from __future__ import annotations

from assessments.model import Source

__all__ = ["SOURCES"]

_KDIGO = (
    "kdigo_ckd_2024",
    "KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of Chronic Kidney Disease",
)
_CHOL = (
    "acc_aha_cholesterol_2018",
    "2018 AHA/ACC/AACVPR/AAPA/ABC/ACPM/ADA/AGS/APhA/ASPC/NLA/PCNA Guideline on the Management of Blood Cholesterol",
)
_RISK = ("acc_aha_ascvd_2013", "2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk")
_HTN = (
    "acc_aha_hypertension_2017",
    "2017 ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA Guideline for the Prevention, Detection, "
    "Evaluation, and Management of High Blood Pressure in Adults",
)
_ADA = ("ada_diabetes_2024", "Standards of Care in Diabetes—2024")
_AF = (
    "acc_aha_af_2023",
    "2023 ACC/AHA/ACCP/HRS Guideline for Diagnosis and Management of Atrial Fibrillation",
)
_NEWS2 = (
    "rcp_news2_2017",
    "National Early Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS",
)
_NAFLD = (
    "aasld_nafld_2023",
    "AASLD Practice Guidance on the Clinical Assessment and Management of Nonalcoholic Fatty Liver Disease",
)

SOURCES: dict[str, Source] = {
    "egfr_ckd_epi_2021": Source(
        *_KDIGO,
        "Evaluation of Chronic Kidney Disease — KDIGO 2024 > GFR Assessment",
        "1B",
        "use the CKD-EPI 2021 creatinine equation race-free for initial eGFR estimation",
        "Inker LA et al. New creatinine- and cystatin C-based equations to estimate GFR without race. "
        "N Engl J Med 2021;385:1737-49",
    ),
    "ckd_stage": Source(
        *_KDIGO,
        "CKD Staging — KDIGO 2024 > GFR Categories",
        "",
        "GFR categories stage G1 >= 90 G2 60-89 G3a 45-59 G3b 30-44 G4 15-29 G5 < 15 kidney failure",
    ),
    "ckd_chronicity": Source(
        *_KDIGO,
        "Evaluation of Chronic Kidney Disease — KDIGO 2024 > Definition and Diagnosis",
        "",
        "CKD defined as abnormalities of kidney structure or function present for more than 3 months",
    ),
    "albuminuria": Source(
        *_KDIGO,
        "Evaluation of Chronic Kidney Disease — KDIGO 2024 > Albuminuria Assessment",
        "",
        "ACR categories A1 A2 A3 albumin-to-creatinine ratio mg/g",
    ),
    "kfre": Source(
        *_KDIGO,
        "Evaluation of Chronic Kidney Disease — KDIGO 2024 > Risk Stratification",
        "",
        "CKD prognosis risk stratification GFR and albuminuria category kidney failure risk",
        "Tangri N et al. Multinational assessment of accuracy of equations for predicting risk of kidney "
        "failure. JAMA 2016;315:164-74 (4-variable KFRE, North American baseline)",
    ),
    "ckd_referral": Source(
        *_KDIGO,
        "Nephrology Referral Criteria — KDIGO 2024 > When to Refer > Mandatory Referral (Grade 1B)",
        "1B",
        "refer to nephrology eGFR < 30 ACR >= 300 mg/g sustained decline in eGFR > 5 per year",
    ),
    "ascvd_pce_10y": Source(
        *_RISK,
        "Risk Assessment — ACC/AHA 2013 > Pooled Cohort Equations",
        "Class I, Level B",
        "race- and sex-specific Pooled Cohort Equations 10-year risk of a first hard ASCVD event",
        "Goff DC Jr et al. 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk, Circulation "
        "2014;129:S49-73, Table A (equation parameters)",
    ),
    "prevent_10y": Source(
        "",
        "AHA PREVENT equations (Predicting Risk of cardiovascular disease EVENTs), 2023",
        "Base model, 10-year total CVD",
        reference="Khan SS et al. Development and validation of the American Heart Association's PREVENT "
        "equations. Circulation 2024;149:430-49 (base model coefficients)",
    ),
    "statin_ascvd": Source(
        *_CHOL,
        "Secondary Prevention in ASCVD -- ACC/AHA 2018 > Statin Therapy in ASCVD > Age <= 75 Years",
        "Class I, LOE A",
        "clinical ASCVD age 75 or younger initiate high-intensity statin reduce LDL-C by 50%",
    ),
    "statin_ascvd_over_75": Source(
        *_CHOL,
        "Secondary Prevention in ASCVD -- ACC/AHA 2018 > Statin Therapy in ASCVD > Age > 75 Years",
        "Class IIa, LOE B-R (continue); Class IIb, LOE C-LD (initiate)",
        "clinical ASCVD age over 75 reasonable to continue high-intensity or initiate moderate-intensity statin",
    ),
    "statin_ldl190": Source(
        *_CHOL,
        "Statin Therapy -- ACC/AHA 2018 > Four Major Statin Benefit Groups > Group 2: Severe Primary "
        "Hypercholesterolemia (LDL-C >= 190 mg/dL)",
        "Class I, LOE B-R",
        "Group 2 severe primary hypercholesterolemia LDL-C >= 190 mg/dL maximally tolerated statin no 10-year "
        "risk calculation required ezetimibe",
    ),
    "statin_diabetes": Source(
        *_CHOL,
        "Statin Therapy -- ACC/AHA 2018 > Four Major Statin Benefit Groups > Group 3: Diabetes Mellitus "
        "(Ages 40--75)",
        "Class I, LOE A",
        "diabetes mellitus age 40 to 75 moderate-intensity statin without risk calculation",
    ),
    "statin_primary": Source(
        *_CHOL,
        "Statin Therapy -- ACC/AHA 2018 > Four Major Statin Benefit Groups > Group 4: Primary Prevention "
        "(Ages 40--75, No ASCVD, No Diabetes)",
        "Class I, LOE A (>= 20 %); Class IIa, LOE A (7.5-20 %); Class IIb, LOE B-NR (5-7.5 %)",
        "Group 4 primary prevention ages 40-75 no ASCVD no diabetes LDL-C 70-189 10-year ASCVD risk 7.5% "
        "moderate-intensity 20% high-intensity",
    ),
    "statin_special": Source(
        *_CHOL,
        "Statin Therapy -- ACC/AHA 2018 > Special Populations > Adults > 75 Years",
        "Class IIa, LOE B-R",
        "adults older than 75 years clinician-patient risk discussion statin",
    ),
    "bp_category": Source(
        *_HTN,
        "Blood Pressure Classification and Measurement -- ACC/AHA 2017 > BP Classification Categories",
        "Class I, LOE A (measurement)",
        "BP classification normal elevated stage 1 stage 2 hypertension average of 2 or more readings",
    ),
    "bp_severe": Source(
        *_HTN,
        "Resistant Hypertension and Hypertensive Crises -- ACC/AHA 2017 > Hypertensive Crises > Definitions",
        "",
        "severe BP elevation > 180/120 hypertensive emergency urgency",
    ),
    "bp_treatment": Source(
        *_HTN,
        "Pharmacotherapy for Hypertension -- ACC/AHA 2017 > Treatment Initiation Decision Tree > Stage 1 "
        "Hypertension (130--139/80--89 mm Hg)",
        "Class I, LOE A (CVD or risk >= 10 %); Class I, LOE C-LD (>= 140/90)",
        "stage 1 hypertension clinical CVD or 10-year ASCVD risk >= 10% initiate 1 first-line agent",
    ),
    "bp_treatment_stage2": Source(
        *_HTN,
        "Pharmacotherapy for Hypertension -- ACC/AHA 2017 > Treatment Initiation Decision Tree > Stage 2 "
        "Hypertension (>= 140/>= 90 mm Hg)",
        "Class I, LOE C-EO",
        "stage 2 hypertension initiate 2 first-line agents of different classes",
    ),
    "bp_treatment_older": Source(
        *_HTN,
        "Pharmacotherapy for Hypertension -- ACC/AHA 2017 > Special Populations > Older Adults (>= 65 Years)",
        "Class I, LOE A",
        "older adults 65 years community-dwelling antihypertensive treatment at SBP >= 130",
    ),
    "bp_treatment_lifestyle": Source(
        *_HTN,
        "Blood Pressure Classification and Measurement -- ACC/AHA 2017 > Treatment Initiation Thresholds > "
        "Decision Algorithm Based on ASCVD Risk",
        "Class I, LOE A",
        "treatment initiation thresholds decision algorithm based on ASCVD risk elevated BP 120-129 "
        "nonpharmacologic therapy only reassess in 3-6 months",
    ),
    "glycemic_status": Source(
        "",
        "ADA Standards of Care in Diabetes—2024, section 2: Diagnosis and Classification of Diabetes",
        "Criteria for the diagnosis of diabetes and prediabetes (A1C)",
        reference="Diabetes Care 2024;47(Suppl 1): A1C >= 6.5 % diabetes (confirmed by a second abnormal "
        "result without unequivocal hyperglycemia), 5.7-6.4 % prediabetes. The indexed ada_diabetes_2024 "
        "summary covers glycemic targets, not these diagnostic criteria",
    ),
    "bmi_class": Source(
        "",
        "WHO/NIH adult BMI classification",
        "BMI classes for adults",
        reference="WHO Technical Report Series 894 (2000); NIH Clinical Guidelines on Overweight and Obesity (1998): "
        "underweight < 18.5, normal 18.5-24.9, overweight 25-29.9, obesity I 30-34.9, II 35-39.9, III >= 40",
    ),
    "fib4": Source(
        *_NAFLD,
        "Noninvasive Fibrosis Assessment — AASLD 2023 > Two-Step Algorithm > Step 1: FIB-4 Index "
        "(First-Line Blood-Based Test)",
        "",
        "FIB-4 index first-line noninvasive test 1.3 2.67 age 65 cutoff 2.0",
        "Sterling RK et al. Hepatology 2006;43:1317-25 (FIB-4 = age x AST / (platelets x sqrt(ALT)))",
    ),
    "cha2ds2_vasc": Source(
        *_AF,
        "Anticoagulation in Atrial Fibrillation — ACC/AHA 2023 > Stroke Risk Assessment (CHA2DS2-VASc) > "
        "Recommendations for Oral Anticoagulation (OAC)",
        "Class I (OAC at >= 2 men, >= 3 women)",
        "CHA2DS2-VASc score oral anticoagulation recommended men women",
    ),
    "news2": Source(
        *_NEWS2,
        "NEWS2 Scoring System — RCP 2017 > Physiological Parameters and Scoring > Scoring Table — Scale 1 "
        "(Standard)",
        "",
        "NEWS2 scoring table respiration rate SpO2 systolic BP pulse consciousness temperature",
    ),
}
