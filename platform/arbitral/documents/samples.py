"""Sample documents of every kind: for the tests, the benchmark and trying templates out."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from arbitral.documents.model import (
    Agent,
    Arbitrator,
    Award,
    CertificateOfService,
    Claim,
    Commission,
    ConsentAward,
    Content,
    DecisionItem,
    Dissent,
    Document,
    Fees,
    FeeShare,
    Kind,
    Language,
    MediationStatement,
    NoticeOfAcceptance,
    NoticeOfArbitration,
    NoticeOfConstitution,
    NoticeOfHearing,
    Party,
    ProceduralStep,
    ScheduleRow,
)

COMMISSION = Commission(
    name="广州仲裁委员会",
    seal_text="广州仲裁委员会印",
    address="广州市天河区某某路100号",
    public_url="https://arbitral.example.cn/t/gzac",
    phone="020-12345678",
)
CASE_NUMBER = "(2026)穗仲网字第000123号"
CLAIMANT = Party(
    role="claimant",
    name="深圳某某网络小额贷款有限公司",
    kind="company",
    id_number="91440300MA5F00001X",
    address="深圳市南山区科技园某某大厦18楼",
    representative="李某某，董事长",
    agents=(Agent(name="王律师", capacity="律师", firm="广东某某律师事务所"),),
)
RESPONDENT = Party(
    role="respondent",
    name="张三",
    id_number="440306199001011234",
    address="广东省广州市海珠区某某街5号",
)
TRIBUNAL = (
    Arbitrator(name="陈明", role="presiding"),
    Arbitrator(name="林华", role="co"),
    Arbitrator(name="周平", role="co"),
)
SOLE = (Arbitrator(name="陈明", role="sole"),)
FEES = Fees(
    total=Decimal("2350.00"),
    shares=(FeeShare(party="被申请人张三", amount=Decimal("2350.00")),),
)
DECISION = (
    DecisionItem(text="被申请人张三向申请人偿还借款本金", amount=Decimal("48650.00")),
    DecisionItem(
        text="被申请人张三向申请人支付截至2026年10月31日的利息", amount=Decimal("3217.45")
    ),
    DecisionItem(
        text="被申请人张三以未还本金为基数，按年利率12%向申请人支付自2026年11月1日起至实际清偿之日止的逾期利息"
    ),
    DecisionItem(text="驳回申请人的其他仲裁请求"),
)
CLAIMS = (
    Claim(text="裁决被申请人偿还借款本金", amount=Decimal("48650.00")),
    Claim(text="裁决被申请人支付利息及逾期利息", amount=Decimal("4102.30")),
    Claim(text="裁决被申请人承担本案仲裁费用"),
)
HISTORY = (
    ProceduralStep(date(2026, 9, 2), "本会受理本案，并向双方当事人发送受理通知书及仲裁规则"),
    ProceduralStep(date(2026, 9, 3), "本会通过电子送达方式向被申请人送达仲裁通知书及申请材料"),
    ProceduralStep(date(2026, 9, 20), "本会主任指定陈明、林华、周平组成仲裁庭"),
    ProceduralStep(date(2026, 10, 15), "仲裁庭以网络书面审理方式审理本案"),
)
FACTS = (
    "2025年3月1日，申请人与被申请人通过申请人运营的网络借贷平台在线签订《个人借款合同》，"
    "约定被申请人向申请人借款人民币50,000元，借款期限十二个月，年利率12%，按月等额本息还款，"
    "并约定因合同发生的争议提交广州仲裁委员会以网络仲裁方式解决。",
    "合同签订当日，申请人向被申请人指定账户发放借款50,000元。被申请人偿还第一期本息后，"
    "自2025年5月起未再按约还款。截至2026年10月31日，被申请人尚欠本金48,650.00元。",
)
REASONING = (
    "申请人与被申请人签订的《个人借款合同》系双方真实意思表示，内容不违反法律、行政法规的强制性规定，"
    "合法有效，双方均应依约履行。被申请人未按约定还款，构成违约，应承担偿还本金、支付利息的责任。",
    "申请人主张的利息标准未超过合同成立时一年期贷款市场报价利率的四倍，仲裁庭予以支持；"
    "申请人主张的其他费用缺乏合同依据，仲裁庭不予支持。",
)


def schedule(rows: int, start: date = date(2025, 4, 1)) -> tuple[ScheduleRow, ...]:
    """An equal-principal schedule of ``rows`` monthly instalments."""
    principal = Decimal("50000.00")
    part = (principal / rows).quantize(Decimal("0.01"))
    out = []
    outstanding = principal
    for i in range(1, rows + 1):
        pay = outstanding if i == rows else part
        interest = (outstanding * Decimal("0.01")).quantize(Decimal("0.01"))
        outstanding -= pay
        out.append(ScheduleRow(i, start + timedelta(days=30 * (i - 1)), pay, interest, outstanding))
    return tuple(out)


def content(
    kind: Kind, *, schedule_rows: int = 0, dissent: bool = False, lang: Language = "zh"
) -> Content:
    """A sample of ``kind``; an award, consent award or mediation statement in English has
    the data an English-speaking commission would write (its notices keep the Chinese data).
    """
    rows = schedule(schedule_rows) if schedule_rows else ()
    if lang == "en" and kind in ENGLISH_KINDS:
        return _english(kind, rows, dissent)
    parties = (CLAIMANT, RESPONDENT)
    if kind == "award":
        return Award(
            parties=parties,
            tribunal=TRIBUNAL,
            procedural_history=HISTORY,
            claims=CLAIMS,
            respondent_answer=("被申请人未提交答辩意见，亦未提交证据。",),
            facts=FACTS,
            reasoning=REASONING,
            decision=DECISION,
            fees=FEES,
            place="广州",
            made_on=date(2026, 12, 6),
            secretary="赵敏",
            dissent=Dissent("周平", "本人认为逾期利息应自裁决作出之日起计算，其余同意多数意见。")
            if dissent
            else None,
            schedule=rows,
        )
    if kind == "consent_award":
        return ConsentAward(
            parties=parties,
            tribunal=SOLE,
            procedural_history=HISTORY[:2],
            claims=CLAIMS,
            settled_on=date(2026, 10, 20),
            terms=(
                DecisionItem(
                    text="被申请人张三于2026年12月31日前向申请人支付", amount=Decimal("45000.00")
                ),
                DecisionItem(text="申请人放弃其他仲裁请求"),
            ),
            fees=FEES,
            place="广州",
            made_on=date(2026, 11, 2),
            secretary="赵敏",
            schedule=rows,
        )
    if kind == "mediation_statement":
        return MediationStatement(
            parties=parties,
            tribunal=SOLE,
            claims=CLAIMS,
            terms=(
                DecisionItem(
                    text="被申请人张三分六期向申请人偿还借款本息共计", amount=Decimal("50400.00")
                ),
                DecisionItem(
                    text="如被申请人任何一期未按时足额付款，申请人有权就全部未付款项申请强制执行"
                ),
            ),
            fees=FEES,
            place="广州",
            made_on=date(2026, 11, 2),
            secretary="赵敏",
            schedule=rows,
            procedural_history=HISTORY[:2],
            agreed_on=date(2026, 10, 28),
            agreement_id=AGREEMENT_ID,
            agreement_sha256=AGREEMENT_SHA256,
        )
    if kind == "notice_of_acceptance":
        return NoticeOfAcceptance(
            recipient=CLAIMANT.name,
            parties=parties,
            case_type="网络借款合同纠纷",
            amount_claimed=Decimal("52752.30"),
            accepted_on=date(2026, 9, 2),
            rule_set="广州仲裁委员会网络仲裁规则 2026",
            fee_due=Decimal("2350.00"),
            portal_url="https://arbitral.example.cn/t/gzac/portal",
        )
    if kind == "notice_of_arbitration":
        return NoticeOfArbitration(
            recipient=RESPONDENT.name,
            parties=parties,
            case_type="网络借款合同纠纷",
            claims=CLAIMS,
            amount_claimed=Decimal("52752.30"),
            rule_set="广州仲裁委员会网络仲裁规则 2026",
            answer_due_on=date(2026, 9, 18),
            evidence_due_on=date(2026, 9, 18),
            arbitrator_choice_due_on=date(2026, 9, 13),
            portal_url="https://arbitral.example.cn/t/gzac/portal",
        )
    if kind == "notice_of_constitution":
        return NoticeOfConstitution(
            recipient=RESPONDENT.name,
            parties=parties,
            tribunal=TRIBUNAL,
            constituted_on=date(2026, 9, 20),
            how="因当事人未在规定期限内共同选定，由本会主任指定",
            challenge_due_on=date(2026, 10, 10),
        )
    if kind == "notice_of_hearing":
        return NoticeOfHearing(
            recipient=RESPONDENT.name,
            parties=parties,
            tribunal=TRIBUNAL,
            mode="video",
            starts_at=datetime(2026, 10, 15, 9, 30),
            place="https://arbitral.example.cn/t/gzac/hearings/000123",
        )
    if kind == "certificate_of_service":
        return CertificateOfService(
            recipient=RESPONDENT.name,
            document="仲裁通知书、仲裁申请书副本及证据材料",
            method="电子邮件",
            address="zhangsan@example.cn",
            served_at=datetime(2026, 9, 3, 10, 12),
            receipt="送达平台回执 MSG-20260903-000123，2026年9月3日10:14已送达收件服务器",
            document_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
    raise ValueError(f"no sample for {kind}")


def sample(
    kind: Kind,
    lang: Language = "zh",
    *,
    tenant: str = "",
    schedule_rows: int = 0,
    dissent: bool = False,
    verification_code: str = "ABCD-EFGH-JKLM-NPQR",
) -> Document:
    english = lang == "en" and kind in ENGLISH_KINDS
    return Document(
        commission=COMMISSION_EN if english else COMMISSION,
        case_number=CASE_NUMBER,
        content=content(kind, schedule_rows=schedule_rows, dissent=dissent, lang=lang),
        issued_on=date(2026, 12, 6),
        language=lang,
        verification_code=verification_code,
        tenant=tenant,
    )


# -- the same cases, as an English-speaking commission writes them -------------------------

AGREEMENT_ID = "5f0c2a9e-1b7d-4c3e-9a58-2d6f0e4b7c11"
AGREEMENT_SHA256 = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
ENGLISH_KINDS: frozenset[Kind] = frozenset({"award", "consent_award", "mediation_statement"})
COMMISSION_EN = Commission(
    name="Guangzhou Arbitration Commission",
    seal_text="Seal of the Guangzhou Arbitration Commission",
    address="100 Example Road, Tianhe District, Guangzhou",
    public_url="https://arbitral.example.cn/t/gzac",
    phone="+86 20 1234 5678",
)
CLAIMANT_EN = Party(
    role="claimant",
    name="Shenzhen Example Online Microcredit Co., Ltd.",
    kind="company",
    id_number="91440300MA5F00001X",
    address="18/F Example Tower, Science Park, Nanshan District, Shenzhen",
    representative="Li Moumou, chairman",
    agents=(Agent(name="Wang Lü", capacity="lawyer", firm="Guangdong Example Law Firm"),),
)
RESPONDENT_EN = Party(
    role="respondent",
    name="Zhang San",
    id_number="440306199001011234",
    address="5 Example Street, Haizhu District, Guangzhou",
)
TRIBUNAL_EN = (
    Arbitrator(name="Chen Ming", role="presiding"),
    Arbitrator(name="Lin Hua", role="co"),
    Arbitrator(name="Zhou Ping", role="co"),
)
SOLE_EN = (Arbitrator(name="Chen Ming", role="sole"),)
FEES_EN = Fees(
    total=Decimal("2350.00"),
    shares=(FeeShare(party="the respondent Zhang San", amount=Decimal("2350.00")),),
)
CLAIMS_EN = (
    Claim(text="that the respondent repay the principal of the loan", amount=Decimal("48650.00")),
    Claim(text="that the respondent pay interest and default interest", amount=Decimal("4102.30")),
    Claim(text="that the respondent bear the costs of the arbitration"),
)
HISTORY_EN = (
    ProceduralStep(
        date(2026, 9, 2),
        "the Commission accepted the case and sent both parties the notice of acceptance and "
        "the rules",
    ),
    ProceduralStep(
        date(2026, 9, 3),
        "the Commission served the notice of arbitration and the claim on the respondent "
        "electronically",
    ),
    ProceduralStep(
        date(2026, 9, 20),
        "the chairman of the Commission appointed Chen Ming, Lin Hua and Zhou Ping to the tribunal",
    ),
    ProceduralStep(date(2026, 10, 15), "the tribunal heard the case online on the documents"),
)


def _english(kind: Kind, rows: tuple[ScheduleRow, ...], dissent: bool) -> Content:
    parties = (CLAIMANT_EN, RESPONDENT_EN)
    if kind == "award":
        return Award(
            parties=parties,
            tribunal=TRIBUNAL_EN,
            procedural_history=HISTORY_EN,
            claims=CLAIMS_EN,
            respondent_answer=("The respondent submitted neither a defence nor evidence.",),
            facts=(
                "On 1 March 2025 the claimant and the respondent concluded a personal loan "
                "contract online, on the lending platform the claimant operates: a loan of "
                "CNY 50,000 for twelve months at 12% a year, repaid in equal monthly "
                "instalments, disputes to be settled by online arbitration before the "
                "Guangzhou Arbitration Commission.",
                "The claimant paid out the loan the same day. The respondent repaid the first "
                "instalment and nothing after May 2025; on 31 October 2026 CNY 48,650.00 of "
                "principal was outstanding.",
            ),
            reasoning=(
                "The contract expresses the true intention of both parties and breaks no "
                "mandatory provision of law; it is valid. The respondent, who did not repay as "
                "agreed, is in breach and must repay the principal with interest.",
                "The interest claimed does not exceed four times the one-year loan prime rate "
                "when the contract was made and is allowed; the other charges claimed have no "
                "basis in the contract and are dismissed.",
            ),
            decision=(
                DecisionItem(
                    text="The respondent Zhang San shall repay the claimant the principal of",
                    amount=Decimal("48650.00"),
                ),
                DecisionItem(
                    text="The respondent Zhang San shall pay the claimant interest to 31 October "
                    "2026 of",
                    amount=Decimal("3217.45"),
                ),
                DecisionItem(
                    text="The respondent Zhang San shall pay the claimant default interest at "
                    "12% a year on the outstanding principal from 1 November 2026 until paid"
                ),
                DecisionItem(text="The claimant's other claims are dismissed"),
            ),
            fees=FEES_EN,
            place="Guangzhou",
            made_on=date(2026, 12, 6),
            secretary="Zhao Min",
            dissent=Dissent(
                "Zhou Ping",
                "In my view default interest should run from the day of the award; otherwise I "
                "agree with the majority.",
            )
            if dissent
            else None,
            schedule=rows,
        )
    if kind == "consent_award":
        return ConsentAward(
            parties=parties,
            tribunal=SOLE_EN,
            procedural_history=(
                *HISTORY_EN[:2],
                ProceduralStep(
                    date(2026, 10, 20),
                    f"the parties signed a settlement agreement (no. {AGREEMENT_ID}, SHA-256 "
                    f"of its text {AGREEMENT_SHA256})",
                ),
            ),
            claims=CLAIMS_EN,
            settled_on=date(2026, 10, 20),
            terms=(
                DecisionItem(
                    text="The respondent Zhang San shall pay the claimant by 31 December 2026",
                    amount=Decimal("45000.00"),
                ),
                DecisionItem(text="The claimant waives its other claims"),
            ),
            fees=FEES_EN,
            place="Guangzhou",
            made_on=date(2026, 11, 2),
            secretary="Zhao Min",
            schedule=rows,
        )
    if kind == "mediation_statement":
        return MediationStatement(
            parties=parties,
            tribunal=SOLE_EN,
            claims=CLAIMS_EN,
            terms=(
                DecisionItem(
                    text="The respondent Zhang San shall repay the claimant, in six instalments, "
                    "principal and interest totalling",
                    amount=Decimal("50400.00"),
                ),
                DecisionItem(
                    text="Should the respondent miss any instalment in whole or in part, the "
                    "claimant may apply for enforcement of everything then unpaid"
                ),
            ),
            fees=FEES_EN,
            place="Guangzhou",
            made_on=date(2026, 11, 2),
            secretary="Zhao Min",
            schedule=rows,
            procedural_history=HISTORY_EN[:2],
            agreed_on=date(2026, 10, 28),
            agreement_id=AGREEMENT_ID,
            agreement_sha256=AGREEMENT_SHA256,
        )
    raise ValueError(f"no English sample for {kind}")
