"""Values, not just columns: source event types to the contract's event types.

A value is looked up in the map file's ``values:`` section first (exactly, then folded), then in the
built-in synonyms below. *Folding* ignores case, width (full-width ``ＮＰＳ``), spaces and
punctuation, so ``Email: Opened``, ``email-opened`` and ``EMAIL OPENED`` are one value. What matches
nothing becomes ``other``; ingest lists those values with a hint (or quarantines them with
``--strict-values``).
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

from features.contract import EVENT_TYPES, NO_EVENT

OTHER = "other"

#: Common names of each contract event type in CRM, marketing and shop exports (English and the
#: Chinese activity names of Fxiaoke / Zoho CRM CN / Salesforce CN exports).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "visit": (
        "visit",
        "visits",
        "web visit",
        "website visit",
        "site visit",
        "page view",
        "pageview",
        "page viewed",
        "viewed page",
        "page visit",
        "web session",
        "session",
        "store visit",
        # Klaviyo's metric of an identified profile browsing the shop (its site visit)
        "active on site",
        # a gym's or club's door: one row per swipe of the member's card
        "check in",
        "checkin",
        "checked in",
        "member check in",
        "door swipe",
        "card swipe",
        "swipe",
        "attendance",
        "class attended",
        "签到",
        "入场",
        "app open",
        "app opened",
        "app session",
        "app launch",
        "app launched",
        "session start",
        "session started",
        "screen view",
        "访问",
        "网站访问",
        "官网访问",
        "小程序访问",
        "小程序打开",
        "打开小程序",
        "进入小程序",
        "页面浏览",
        "浏览",
        "浏览网页",
        "到访",
        "到店",
        "门店到访",
    ),
    "login": (
        "login",
        "log in",
        "logged in",
        "sign in",
        "signin",
        "signed in",
        "app login",
        "portal login",
        "user login",
        "登录",
        "登陆",
        "用户登录",
        "app登录",
    ),
    "email_open": (
        "email open",
        "email opened",
        "email opens",
        "opened email",
        "open email",
        "marketing email opened",
        "email read",
        # a newsletter tool's activity export (Mailchimp, Brevo, Klaviyo), in English, German,
        # French and Dutch: its rows are all e-mail, so a bare "opened" is an e-mail opened
        "open",
        "opened",
        "opens",
        "unique open",
        "unique opens",
        "geöffnet",
        "e-mail geöffnet",
        "ouvert",
        "ouverture",
        "email ouvert",
        "geopend",
        "邮件打开",
        "打开邮件",
        "已打开邮件",
        "邮件已读",
        "已读邮件",
    ),
    "email_click": (
        "email click",
        "email clicked",
        "email clicks",
        "clicked email",
        "email link click",
        "email link clicked",
        "clicked link",
        "link click",
        "marketing email clicked",
        "click",
        "clicked",
        "clicks",
        "unique click",
        "unique clicks",
        "geklickt",
        "klick",
        "cliqué",
        "clique",
        "clic",
        "geklikt",
        "邮件点击",
        "点击邮件",
        "邮件链接点击",
        "点击邮件链接",
    ),
    "support_ticket": (
        "support ticket",
        "ticket",
        "tickets",
        "case",
        "cases",
        "support case",
        "service case",
        "support request",
        "service request",
        "help desk ticket",
        "helpdesk ticket",
        # Zendesk's fixed ticket types (its Type column): incident, question, problem; its task
        # is left to NOT_ENGAGEMENT (a CRM's Task is a sales rep's activity, not the customer's)
        "incident",
        "question",
        "problem",
        # Freshdesk's default ticket type beside Question, Incident and Problem
        "feature request",
        "工单",
        "服务工单",
        "客服工单",
        "售后工单",
        "服务请求",
        "报修",
        "售后服务",
        "客服咨询",
    ),
    "complaint": (
        "complaint",
        "complaints",
        "customer complaint",
        "complain",
        "投诉",
        "客户投诉",
        "投诉建议",
        "投诉单",
        # a newsletter tool's spam mark (Klaviyo's Marked Email as Spam, SendGrid's spamreport,
        # Mailgun's complained, Amazon SES's and Postmark's spam complaint): the customer's
        # complaint of the mail, which mailing tools themselves call one
        "marked email as spam",
        "marked as spam",
        "email marked as spam",
        "reported as spam",
        "spam complaint",
        "spam report",
        "spamreport",
        "complained",
    ),
    "survey": (
        "survey",
        "surveys",
        "survey response",
        "nps",
        "nps survey",
        "nps response",
        "csat",
        "csat survey",
        "satisfaction survey",
        "customer satisfaction",
        "feedback survey",
        "ces",
        "问卷",
        "调查",
        "问卷调查",
        "满意度",
        "满意度调查",
        "满意度回访",
        "满意度评价",
        "nps调查",
        "评价",
    ),
}


#: The value-mapping target of an event the sender did, not the customer (a newsletter's sends,
#: deliveries and bounces: most rows of a Brevo or Mailchimp activity export): quarantined as
#: :data:`NOT_AN_ACTION`, never engagement ("other" is engagement of an unnamed kind).
IGNORE = "ignore"
NOT_AN_ACTION = "not a customer action (sent, delivered or bounced)"
#: The reason of an event the map file's ``values:`` sets aside (``{X: ignore}``): its own choice,
#: a page view beside sessions as much as a send.
IGNORED_BY_MAP = "set aside by the map file (values: ... ignore)"
#: (Not the bare words a help desk or shop may use for its own events: "request", "delivery",
#: "blocked", "invalid"; map those with values: {event_type: {X: ignore}} where they are sends.)
SENDER_EVENTS = (
    "sent",
    "send",
    "sends",
    "delivered",
    "processed",
    "deferred",
    "bounce",
    "bounced",
    "bounces",
    "hard bounce",
    "soft bounce",
    "hardbounce",
    "softbounce",
    "dropped",
    "email sent",
    "sent email",
    "email delivered",
    "email hard bounced",  # Dynamics 365 Customer Insights' EmailHardBounced
    "email soft bounced",
    "email blocked",
    # Klaviyo's, Brevo's and HubSpot's marketing-email event names
    "received email",
    "email received",
    "bounced email",
    "email bounced",
    "dropped email",
    "hardbounces",
    "softbounces",
    "hard bounces",
    "soft bounces",
    "invalid email",
    "zugestellt",
    "versendet",
    "gesendet",
    "versandt",
    "envoyé",
    "envoye",
    "délivré",
    "delivre",
    "afgeleverd",
    "verzonden",
    "已发送",
    "已送达",
    "发送成功",
    "退信",
    # a loyalty programme's own bookings in its points export (Smile.io, LoyaltyLion, a 会员积分
    # export): points expired at the year's end, a tier changed by the spend, not the member
    "points expired",
    "points expiry",
    "expired points",
    "tier changed",
    "tier change",
    "tier upgraded",
    "tier downgraded",
    "积分过期",
    "积分清零",
    "等级变更",
    "会员升级",
    "会员降级",
    "等级升级",
    "等级降级",
)


#: The value-mapping target of an analytics tool's purchase or refund event (Segment's ``Order
#: Completed``, GA4's ``purchase``, Mixpanel's ``Refund``): the order is the transactions file's,
#: so the event is set aside as :data:`ORDER_EVENT` (counted, never engagement: "other" would
#: count each purchase again as activity); ``values: {event_type: {X: other}}`` keeps it.
ORDER = "order"
ORDER_EVENT = "a purchase or refund (the transactions file holds the orders)"
ORDER_EVENTS = (
    "purchase",
    "purchased",
    "purchase completed",
    "ecommerce purchase",
    "in app purchase",
    "order completed",
    "completed order",
    "order placed",
    "placed order",
    "order paid",
    "checkout completed",
    "completed checkout",
    "refund",
    "refunded",
    "order refunded",
    "purchase refunded",
    "下单",
    "支付成功",
    "购买",
    "退款",
    # a loyalty programme's points earned on a purchase (Smile.io's "Placed an order", a 会员积分
    # export's 消费获得): the purchase again, in points
    "placed an order",
    "points earned for purchase",
    "purchase points",
    "消费获得",
    "消费送积分",
    "消费积分",
    "购物送积分",
    "购物积分",
    "消费赠送积分",
)
#: The value-mapping target of a row saying the customer ended the relationship, in an events
#: file's type or a transactions file's status (Stripe's ``customer.subscription.deleted``, a
#: CRM's ``Account Closed``, a telecom feed's ``PORT_OUT``, a pharmacy's ``Transferred Out`` fill
#: at $0): set aside as :data:`ENDED_ROW` (no engagement, no sale); the customer's latest such
#: row's date is their ``ended_at`` where the customers file gives none (:mod:`features.ingest`).
ENDED = "ended"
ENDED_ROW = "the customer ended (its date is the customer's ended_at)"
#: The value-mapping target of a newsletter tool's unsubscribe (Klaviyo's ``Unsubscribed``,
#: Mailchimp's ``unsub``, an opt-out): no engagement (as other it would count as activity the
#: customer's leaving of the list), set aside as :data:`UNSUBSCRIBE_ROW` and warned of; an
#: opt-out of e-mail, which the customers file's ``do_not_email`` carries to the scores.
UNSUBSCRIBE = "unsubscribe"
UNSUBSCRIBE_ROW = "an unsubscribe (an opt-out of e-mail, no engagement)"
UNSUBSCRIBES = (
    *("unsubscribed", "unsubscribe", "unsubscribes", "unsub", "email unsubscribed"),
    *("unsubscribed from email", "unsubscribed from list", "list unsubscribe", "opted out"),
    *("opt out", "email opt out", "abgemeldet", "désabonné", "désinscrit", "afgemeld"),
    *("退订", "取消订阅", "退订邮件"),
)
#: The transactions statuses of a row that is the end itself (a fill transferred out at $0, a
#: number ported out, Stripe's deletion): a narrower list than the events' ``ENDED_ROWS``.
ENDED_STATUSES = (
    "subscription deleted",  # Stripe's customer.subscription.deleted
    "customer subscription deleted",
    # a mobile operator's feed: the subscriber took the number to another network
    "port out",
    "ported out",
    "number ported out",
    "携号转网",
    # a pharmacy's fill row: the prescription moved to another pharmacy
    "transferred out",
    "transfer out",
    "rx transferred out",
    "prescription transferred out",
)
#: An events type saying the customer ended: the end rows above, and the words a CRM's or a
#: billing tool's activity gives it (Subscription Cancelled, Account Closed, Churned).
ENDED_ROWS = (
    "ended",
    "customer ended",
    "customer churned",
    "churned",
    "subscription cancelled",
    "subscription canceled",
    "cancelled subscription",
    "canceled subscription",
    "subscription ended",
    "subscription terminated",
    "membership cancelled",
    "membership canceled",
    "membership ended",
    "membership terminated",
    "account closed",
    "closed account",
    "account cancelled",
    "account canceled",
    "account terminated",
    "contract terminated",
    "contract cancelled",
    "service cancelled",
    "service terminated",
    "销户",
    "已销户",
    "会员注销",
    "取消会员",
    "账户注销",
    *ENDED_STATUSES,
)
#: The steps of a shop's checkout before the order (not orders: kept as other; the hint says so).
CHECKOUT_STEPS = (
    "checkout started",
    "begin checkout",
    "started checkout",
    "checkout step viewed",
    "checkout step completed",
    "add payment info",
    "payment info entered",
    "add shipping info",
    "add to cart",
    "added to cart",
    "product added",
    "cart viewed",
    "view cart",
    "remove from cart",
    "product removed",
)


#: Order statuses: ``cancelled`` rows are quarantined (never revenue); a ``refunded`` order with a
#: positive amount was refunded whole and is quarantined too, while a refund booked as a row of its
#: own (a negative amount) is kept as the return it is; anything else is a completed sale (a
#: partial refund included: the order was a sale). An ``open`` row is a deal not won yet or an
#: order not paid yet (a Deals export's pipeline stages): quarantined, not revenue (yet); the
#: export that has it won or paid brings it in. A ``credit_note`` row is a document of its own
#: that gives money back (an ERP's credit note, Gutschrift, avoir, booked in the invoice lines
#: beside the invoices, often with a positive amount and the document type telling the sign):
#: kept as a return, its amount read as negative. A ``payment`` row is money received for an
#: invoice (QuickBooks' Transaction List holds the payments beside the invoices they settle):
#: set aside, not a sale (counted as one it doubled the invoice's value and made a purchase day
#: of the day it was paid). A ``supplier_bill`` row is a bill the business received from a
#: supplier (Xero's ``ACCPAY`` beside its ``ACCREC`` sales invoices): what it bought, no
#: customer's purchase, set aside.
ORDER_STATUSES = (
    "completed",
    "cancelled",
    "refunded",
    "open",
    "credit_note",
    "payment",
    "supplier_bill",
    ENDED,
)
#: The quarantine reasons of an order the export says is no sale: cancelled, refunded whole
#: (with its refund rows), or open. ``--min-accepted-share`` does not count them: read right.
CANCELLED_ORDER = "cancelled order"
REFUNDED_ORDER = "refunded order"
OPEN_ORDER = "open deal or unpaid order"
NO_SALE = (CANCELLED_ORDER, REFUNDED_ORDER, OPEN_ORDER)
#: The quarantine reason of a payment received for an invoice: no sale, and no cancellation of
#: the invoice it names (so not in ``NO_SALE``, whose order ids a later file's lines replace).
PAYMENT = "payment received (no sale)"
#: Document types of a sale's order and of its invoice, as a transaction search of an ERP holds
#: them in one ``Type`` column (NetSuite's and Dynamics 365's Sales Order beside the Invoice that
#: bills it, with the same lines): beside invoices an order is the invoice's sale once more, set
#: aside as ``INVOICED_ORDER`` (an export of orders alone keeps them as the sales).
SALES_ORDER_TYPES = (
    "sales order",
    "salesorder",
    "sale order",
    "kundenauftrag",
    "auftrag",
    "commande client",
    "ordine di vendita",
    "pedido de venta",
    "pedido de venda",
    "verkooporder",
    "销售订单",
)
INVOICE_TYPES = (
    "invoice",
    "a/r invoice",
    "out_invoice",
    "sales invoice",
    "rechnung",
    "facture",
    "fattura",
    "factura",
    "factuur",
    "销售发票",
)
INVOICED_ORDER = "sales order beside the invoices (the invoice is the sale)"
#: The quarantine reason of a bill from a supplier (Xero's ``ACCPAY``): the business's purchase.
SUPPLIER_BILL = "bill from a supplier (no sale)"
#: The quarantine reason of money the customer received, in a bank's or card's statement read with
#: ``amount_sign: negative_is_sale`` (a salary, a top-up, an incoming transfer): no sale.
MONEY_IN = "money in: a deposit or incoming transfer (no sale)"
#: The quarantine reasons of rows the export itself sets aside (no sale, not a customer action):
#: read right, so ``--min-accepted-share`` does not judge them.
#: The quarantine reasons of a row the map file's ``exclude:`` names (a test purchase, a tip),
#: and of the other rows of a customer whose record it names (a test account).
EXCLUDED = "excluded by the map file"
EXCLUDED_CUSTOMER = "customer excluded by the map file"
#: The quarantine reason of a customers-file record merged into another (``merged_into``).
MERGED = "merged into another customer"
#: The reason of a customers-file row repeating its customer with an end date column: another
#: of their subscriptions, read into the customer's ``ended_at``.
ANOTHER_SUBSCRIPTION = "another subscription of the customer (read into its ended_at)"
#: The quarantine reason of a row without an amount of an order whose total is on another row
#: (WooCommerce's line items, eBay's items of a multi-item order): part of that order.
ORDER_LINE = "line of an order whose total is on another row"
#: The quarantine reason of a report's group row or subtotal row (``features.grouped_reports``):
#: a customer's name above their rows, or a sum repeating them.
REPORT_ROW = "report group or subtotal row"
SET_ASIDE = (
    *NO_SALE,
    PAYMENT,
    SUPPLIER_BILL,
    INVOICED_ORDER,
    MONEY_IN,
    ORDER_LINE,
    REPORT_ROW,
    NOT_AN_ACTION,
    IGNORED_BY_MAP,
    ORDER_EVENT,
    ENDED_ROW,
    UNSUBSCRIBE_ROW,
    EXCLUDED,
    EXCLUDED_CUSTOMER,
    MERGED,
    ANOTHER_SUBSCRIPTION,
    NO_EVENT,
)
STATUS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cancelled": (
        "cancelled",
        "canceled",
        "cancel",
        "not attending",  # an event ticket cancelled or transferred (Eventbrite)
        "voided",
        "void",
        "declined",
        "failed",
        # a payment processor's: PayPal's payment the merchant or PayPal denied, Stripe's
        # payment its fraud screening blocked (no money taken)
        "denied",
        "blocked",
        "closed lost",
        "closedlost",  # HubSpot's internal deal stage
        "closed lost to competition",  # Zoho CRM
        "lost",
        "已取消",
        "取消",
        "作废",
        "已作废",
        "已关闭",
        "输单",
        "已拒绝",
        # Taobao/Tmall's 交易关闭: closed unpaid or after a full refund; no money kept
        "交易关闭",
        # German, French, Dutch shop exports (Shopware, JTL, WooCommerce, PrestaShop, Lightspeed)
        # and WooCommerce's status slugs
        "storniert",
        "abgebrochen",
        "annulliert",
        "fehlgeschlagen",
        "annulée",
        "annulee",
        "annulé",
        "annule",
        "échouée",
        "echouee",
        "geannuleerd",
        "mislukt",
        "wc-cancelled",
        "wc-failed",
        # a hotel PMS's reservation that was not stayed (Opera, Mews, Cloudbeds): the row holds
        # the booked stay, not revenue; a no-show fee charged is its own row
        "no-show",
        "no show",
        "noshow",
        # an appointment book's (Fresha, Vagaro, Mindbody, Jane, Cliniko; Open Dental's Broken
        # appointment) cancellation too late to rebook, or missed: no visit; a fee charged is
        # its own sale
        # a tour operator's option (a booking held unpaid, Tourplan, Rezdy) that lapsed unpaid
        "expired",
        "option expired",
        "lapsed",
        "late cancellation",
        "late cancel",
        "late cancelled",
        "late canceled",
        "broken",
        # Brazilian and Portuguese shops (Nuvemshop, Tray, VTEX), Japanese (Rakuten, Makeshop),
        # Indian marketplaces' RTO: a cash-on-delivery parcel refused and returned to origin
        "cancelado",
        "cancelada",
        "pedido cancelado",
        "キャンセル",
        "キャンセル済み",
        "rto",
        "return to origin",
        # a car dealer's deal reversed after delivery (CDK, Reynolds: the customer gave it back)
        "unwound",
        # Xero's status of an invoice deleted before it was approved
        "deleted",
        # Magento's orders held as fraud (never shipped; a fraud review that clears them
        # moves them on to processing)
        "suspected fraud",
        "fraud",
        # South-East Asian marketplaces (Shopee, Lazada, Tokopedia) in Thai, Vietnamese and
        # Indonesian
        "ยกเลิกแล้ว",
        "ยกเลิก",
        "đã hủy",
        "hủy",
        "batal",
        "dibatalkan",
        # Korean shops (Cafe24, Naver SmartStore, Coupang), Gulf ones in Arabic (Salla, Zid, a
        # POS), Russian (1C, InSales; amoCRM's stage of a lost deal), Turkish marketplaces
        # (Trendyol, Hepsiburada, ikas), Polish (Allegro, BaseLinker) and Israeli ones
        "취소",
        "취소완료",
        "ملغي",
        "ملغى",
        "отменён",
        "закрыто и не реализовано",
        "iptal edildi",
        "iptal",
        "anulowane",
        "anulowano",
        "בוטל",
        # a subscription app's charge (Recharge, Skio, Bold) the customer skipped that month,
        # or whose card was declined (retried as a charge of its own): no money taken
        "skipped",
        "error",
    ),
    "completed": (
        "completed",
        "complete",
        "paid",
        "success",  # a subscription app's charge taken (Recharge, Skio)
        "succeeded",
        "purchase",  # an app store's transaction type beside "refund"
        "purchased",
        "sale",
        # a pharmacy's fill picked up (PioneerRx, QS/1: beside Reversed and Transferred Out)
        "sold",
        "picked up",
        "dispensed",
        # an ERP's document type for an invoice, beside its credit notes (below)
        "invoice",
        "inv",
        "a/r invoice",
        "out_invoice",
        # accounting systems: QuickBooks' Sales Receipt (paid at once), Xero's invoice type and
        # approved status (British spelling), Odoo's posted journal entry
        "sales receipt",
        "accrec",
        "authorised",
        "posted",
        "rechnung",
        "facture",
        "fattura",
        "factura",
        "factuur",
        "closed won",
        "closedwon",
        "won",
        "fulfilled",
        "shipped",
        "delivered",
        "authorized",
        # Shopee's paid orders on their way ("To ship", "Shipping") and delivered, in English,
        # Thai, Vietnamese and Indonesian (Tokopedia: Selesai)
        "to ship",
        "shipping",
        "ที่ต้องจัดส่ง",
        "กำลังจัดส่ง",
        "การจัดส่ง",
        "จัดส่งแล้ว",
        "สำเร็จแล้ว",
        "สำเร็จ",
        "ชำระแล้ว",  # a Thai till's paid
        "chờ lấy hàng",
        "đang giao",
        "đã giao",
        "hoàn thành",
        "perlu dikirim",
        "sedang dikirim",
        "dikirim",
        "selesai",
        "pesanan selesai",
        "partially refunded",
        "部分退款",
        "已完成",
        "完成",
        "已付款",
        "已发货",
        "已签收",
        "成交",
        "赢单",
        # Taobao/Tmall order statuses (订单报表) of a paid order
        "交易成功",
        "交易完成",
        "买家已付款，等待卖家发货",
        "等待卖家发货",
        "卖家已发货，等待买家确认",
        "等待买家确认收货",
        "abgeschlossen",
        "bezahlt",
        "versandt",
        "versendet",
        "geliefert",
        "zugestellt",
        "teilweise erstattet",
        "teilweise zurückerstattet",
        "payée",
        "payee",
        "payé",
        "expédiée",
        "expediee",
        "livrée",
        "livree",
        "terminée",
        "terminee",
        "partiellement remboursée",
        "partiellement remboursee",
        "betaald",
        "verzonden",
        "geleverd",
        "afgerond",
        "voltooid",
        "gedeeltelijk terugbetaald",
        "wc-completed",
        "wc-processing",  # WooCommerce: paid, not yet shipped
        "finalized",  # a dealer management system's delivered deal
        "finalised",
        "pago",
        "paga",
        "entregue",
        "enviado",
        "concluído",
        "concluido",
        "faturado",
        "発送済み",
        "出荷済み",
        "配送完了",
        "完了",
        # a hotel PMS's stayed reservation (Opera, Mews, Cloudbeds)
        "checked out",
        "checkedout",
        "in house",
        "inhouse",
        "checked in",
        "checkedin",
        # an airline ticket or a travel booking's documents issued: paid
        "ticketed",
        # an event ticket's order (Eventbrite's attendee status; "Checked In" above)
        "attending",
        # Korean shops' paid, shipping, delivered and purchase-confirmed orders; Arabic
        # (Salla, Zid: fulfilled, being prepared, ready, shipped, out for delivery, delivered,
        # complete); Russian (1C: done, shipped; amoCRM's won stage); Turkish (Trendyol, ikas:
        # shipped, delivered, completed); Polish (Allegro: ready to ship, sent, completed);
        # Hebrew (sent, supplied, completed). Not 1C's Закрыт (closed): a closed order may be
        # one not sold, so it stays a warning.
        "결제완료",
        "배송중",
        "배송완료",
        "구매확정",
        "تم التنفيذ",
        "جاري التجهيز",
        "جاهز",
        "تم الشحن",
        "جاري التوصيل",
        "تم التوصيل",
        "مكتمل",
        "выполнен",
        "отгружен",
        "успешно реализовано",
        "kargoya verildi",
        "teslim edildi",
        "tamamlandı",
        "gotowe do wysyłki",
        "wysłane",
        "zakończone",
        "נשלח",
        "סופק",
        "הושלם",
    ),
    "refunded": (
        "refunded",
        "refund",
        "fully refunded",
        "reversed",  # a top-up or payment reversed (a charging system's REVERSED)
        # a card payment disputed by its holder (Stripe's Disputed): the money is taken back
        # while the dispute is open and kept by the holder when it is lost, as most are
        "disputed",
        "chargeback",
        "return/refund",  # Shopee, and in Thai, Vietnamese and Indonesian below
        "คืนเงิน/คืนสินค้า",
        "คืนเงิน",
        "คืนสินค้า",
        "trả hàng/hoàn tiền",
        "hoàn tiền",
        "dikembalikan",
        "pengembalian",
        "已退款",
        "退款",
        "全额退款",
        "退款成功",
        "退款完成",
        "zurückerstattet",
        "rückerstattet",
        "erstattet",
        "remboursée",
        "remboursee",
        "remboursé",
        "rembourse",
        "terugbetaald",
        "wc-refunded",
        "reembolsado",
        "reembolsada",
        "estornado",
        "devolvido",
        "devolvida",
        "返品",
        "返品済み",
        "返金",
        "返金済み",
        "returned",
        # Korean (반품 returned, 환불 refunded), Arabic (مسترجع, تم الإسترجاع returned; مرتجع a
        # POS's return; مسترد refunded), Russian, Turkish, Polish and Hebrew returns
        "반품",
        "반품완료",
        "환불",
        "환불완료",
        "مسترجع",
        "تم الإسترجاع",
        "تم الاسترجاع",
        "مرتجع",
        "مسترد",
        "возврат",
        "iade edildi",
        "iade",
        "zwrot",
        "zwrócone",
        "הוחזר",
    ),
    # an ERP's document type for a credit note (SAP Business One's CRN / A/R Credit Memo, Odoo's
    # out_refund, Sage's Credit Note; Gutschrift, avoir, nota di credito): money given back
    "credit_note": (
        "credit note",
        "credit memo",
        "a/r credit memo",
        "crn",
        "out_refund",
        "refund receipt",  # QuickBooks
        "accreccredit",  # Xero's credit note type
        "gutschrift",
        "rechnungskorrektur",
        "avoir",
        "nota di credito",
        "nota de credito",
        "nota de crédito",
        "creditnota",
        "creditfactuur",
        "贷项通知单",
        "红字发票",
    ),
    # the open stages of the default deal pipelines (Salesforce and Zoho CRM opportunities,
    # HubSpot deals, labels and internal names; Fxiaoke 商机) and unpaid orders. Not "open",
    # "pending", "in progress", 进行中: a paid order in some exports (a confirmed Zoho Books
    # sales order is Open, Squarespace's fulfilment Pending is paid); read as completed with a
    # warning naming them, they are mapped to open by a map file where they mean that.
    "open": (
        "pending payment",
        "awaiting payment",
        "unpaid",
        "not paid",
        "draft",
        "quote",
        "quoted",
        # a quote as a document type beside the order and invoice of the same sale (NetSuite's
        # and QuickBooks' Estimate, Dynamics 365's Quote): no sale until ordered
        "estimate",
        "quotation",
        "sales quote",
        "angebot",
        "devis",
        "offerte",
        "preventivo",
        "presupuesto",
        "报价单",
        "prospecting",
        "qualification",
        "needs analysis",
        "value proposition",
        "identify decision makers",
        "id. decision makers",
        "perception analysis",
        "proposal/price quote",
        "negotiation/review",
        "appointment scheduled",
        "appointmentscheduled",
        "qualified to buy",
        "qualifiedtobuy",
        "presentation scheduled",
        "presentationscheduled",
        "decision maker bought-in",
        "decisionmakerboughtin",
        "contract sent",
        "contractsent",
        # an appointment still on the books (Fresha, Vagaro, Open Dental's Scheduled): no visit
        # yet, and a past one never checked out was not paid (not "confirmed": a paid order in
        # some shops' exports)
        "booked",
        "scheduled",
        # a tour operator's or a travel agent's booking held, not paid yet (an option on the
        # seats or rooms until a deposit comes; Tourplan, Rezdy, Travelport)
        "option",
        "on option",
        "provisional",
        "on request",
        # Salesforce Nonprofit Success Pack's open stages: a pledge or a recurring donation's
        # future instalment is "Pledged" until paid (then Closed Won; never paid: Closed Lost)
        "pledged",
        "cultivation",
        "solicitation",
        "验证客户",
        "需求确定",
        "方案/报价",
        "谈判审核",
        "商务谈判",
        "跟进中",
        "待付款",
        "等待买家付款",  # Taobao/Tmall, Youzan
        "待买家付款",
        "未付款",
        "待支付",
        "草稿",
        "zahlung ausstehend",
        "unbezahlt",
        "nicht bezahlt",
        "en attente de paiement",
        "non payée",
        "non payee",
        "wacht op betaling",
        "onbetaald",
        "niet betaald",
        "wc-pending",
        "wc-on-hold",  # WooCommerce: awaiting payment (a bank transfer, a cheque)
        # BigCommerce's checkout left before payment, Magento's payment under review
        "incomplete",
        "payment review",
        # Shopee's and Tokopedia's unpaid orders in Thai, Vietnamese and Indonesian
        "ที่ต้องชำระ",
        "chờ thanh toán",
        "chưa thanh toán",
        "belum bayar",
        "menunggu pembayaran",
        "payment pending",
        # a billing system's invoice not paid: in dunning (Chargebee's Payment Due, Recurly's
        # past_due) or written off after it (Stripe's uncollectible, the debt of a customer
        # who left unpaid)
        "payment due",
        "past_due",
        # a subscription app's next charge, not taken yet (Recharge's QUEUED)
        "queued",
        # a bill written off as bad debt: never paid; a practice ledger's write-off of a claim
        # denied or of the fee above the insurer's allowance (negative, no money given back)
        "written off",
        "write off",
        "writeoff",
        "insurance write off",
        "bad debt",
        "past due",
        "uncollectible",
        "aguardando pagamento",
        "pagamento pendente",
        "入金待ち",
        "未入金",
        # awaiting payment (a bank transfer's deposit) in Korean, Arabic, Russian, Turkish and
        # Polish
        "입금대기",
        "بانتظار الدفع",
        "ожидает оплаты",
        "ödeme bekleniyor",
        "oczekuje na płatność",
    ),
    # money received for an invoice (QuickBooks' Receive Payment), not a sale: set aside
    "payment": (
        "payment",
        "receive payment",
        "customer payment",
        "zahlungseingang",
    ),
    # a bill from a supplier in an accounting system's invoices export (Xero's ACCPAY and its
    # credit note, QuickBooks' Bill Payment and Vendor Credit, Odoo's in_invoice / in_refund,
    # SAP Business One's A/P documents): the business's own purchase, set aside
    "supplier_bill": (
        "accpay",
        "accpaycredit",
        "vendor bill",
        "supplier bill",
        "vendor credit",
        "bill payment",
        "bill payment (check)",
        "bill payment (credit card)",
        "in_invoice",
        "in_refund",
        "a/p invoice",
        "a/p credit memo",
    ),
    # only rows that are the end itself: a status such as Ended or Account Closed on a sale's row
    # is the customer's current state, copied onto every row (an insurer's Policy Status), and
    # read as an end it would set all their sales aside
    ENDED: ENDED_STATUSES,
}


#: CRM activities that are not engagement signals the features use (their hint says so).
NOT_ENGAGEMENT = (
    "call",
    "phone call",
    "meeting",
    "note",
    "task",
    "email",
    "sms",
    "电话",
    "拜访",  # a sales rep's visit to the customer, not the customer visiting
    "上门拜访",
    "客户拜访",
    "会议",
    "微信",
    "短信",
    "备注",
    "任务",
    "邮件",
)


#: The event-type synonyms ingest maps by: the contract types' and the sender's events.
EVENT_SYNONYMS = {
    **SYNONYMS,
    IGNORE: SENDER_EVENTS,
    ORDER: ORDER_EVENTS,
    ENDED: ENDED_ROWS,
    UNSUBSCRIBE: UNSUBSCRIBES,
}
#: The event-type targets ingest sets aside, with the quarantine reason of each.
SET_ASIDE_EVENTS = {
    IGNORE: NOT_AN_ACTION,
    ORDER: ORDER_EVENT,
    ENDED: ENDED_ROW,
    UNSUBSCRIBE: UNSUBSCRIBE_ROW,
}


#: The contract's scale of a survey's ``value`` (the synthetic generator's satisfaction 1-5):
#: every file's scores are put on it before they are stored (:mod:`features.survey_scores`).
CONTRACT_SCALE = "1-5"
#: The scales a map file's ``survey_scale`` may declare: name -> (lowest, highest) score.
SURVEY_SCALES: dict[str, tuple[float, float]] = {
    CONTRACT_SCALE: (1.0, 5.0),  # CSAT, a star or Intercom's emoji rating
    "0-10": (0.0, 10.0),  # NPS
    "1-10": (1.0, 10.0),
    "0-100": (0.0, 100.0),  # a percentage
    "1-7": (1.0, 7.0),  # a 7-point CSAT or CES (higher is better)
    "0-5": (0.0, 5.0),
    "1-3": (1.0, 3.0),
}
#: A survey's score written as a word or a mark, on the contract's scale: Zendesk's satisfaction
#: (``good``/``bad``), a thumbs rating (the ends of the scale), Intercom's emoji (1-5).
RATING_WORDS: dict[str, float] = {
    **dict.fromkeys(("good", "good with comment", "thumbs up", "thumbsup", "👍"), 5.0),
    **dict.fromkeys(("bad", "bad with comment", "thumbs down", "thumbsdown", "👎"), 1.0),
    **{"😠": 1.0, "🙁": 2.0, "😐": 3.0, "😃": 4.0, "🤩": 5.0},
}
#: A survey's rating cell that is no score: Zendesk's survey ``offered`` (not answered) and
#: ``unoffered`` (not sent).
NO_RATING = ("offered", "unoffered", "not offered", "unrated", "not rated")


#: Letters case folding leaves apart that exports write for one another: Turkish dotless ``ı``
#: (``TAMAMLANDI`` is ``Tamamlandı``) and Russian ``ё`` (``Отменён`` is mostly typed
#: ``Отменен``); the dot Turkish ``İ`` keeps when case-folded (``İptal`` to ``i̇ptal``) is
#: dropped.
_LETTERS = str.maketrans({"ı": "i", "ё": "е", "\u0307": None})


def fold_case(text: str) -> str:
    """Width and case folded (NFKC, casefold), with Turkish ``İ``/``ı`` as ``i`` and ``ё`` as
    ``е``: what a values: key or a column name is matched by."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_LETTERS)


def fold(value: str) -> str:
    """Case, width, spacing and punctuation folded: ``"E-mail  Opened!"`` -> ``"e_mail_opened"``."""
    text = fold_case(str(value))
    text = re.sub(r"[\W_]+", "_", text)
    return text.strip("_").replace("e_mail", "email")


def invoiced_orders(values: pd.Series) -> pd.Series:
    """Which rows are sales orders (``SALES_ORDER_TYPES``) in a column that holds invoices
    (``INVOICE_TYPES``) too: the same sales again; all false without invoices."""
    text = values.astype("string").str.strip()
    kinds = {v: fold(v) for v in pd.unique(text.dropna())}  # each distinct value once
    orders = [v for v, kind in kinds.items() if kind in {fold(t) for t in SALES_ORDER_TYPES}]
    invoices = {fold(t) for t in INVOICE_TYPES} & set(kinds.values())
    if not orders or not invoices:  # (an all-blank column is of no type to compare with)
        return pd.Series(False, index=values.index)
    return text.isin(orders).fillna(False).astype(bool)


#: Contract values whose own name is no synonym of them: a bare ``open`` status is a paid order
#: in some exports (Zoho Books' confirmed sales order), read as completed with a warning like
#: ``pending`` (the comment of ``STATUS_SYNONYMS["open"]``); ``values:`` maps it to open.
NOT_OWN_SYNONYM = frozenset({"open"})


def _builtin(synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table = {fold(t): t for t in synonyms if t not in NOT_OWN_SYNONYM}
    for target, names in synonyms.items():
        for name in names:
            table[fold(name)] = target
    return table


@functools.cache
def _not_engagement() -> frozenset[str]:
    return frozenset(fold(n) for n in NOT_ENGAGEMENT)


@functools.cache
def _checkout_steps() -> frozenset[str]:
    return frozenset(fold(n) for n in CHECKOUT_STEPS)


#: An analytics tool's event of a session (one per visit: GA4's ``session_start``, an app's
#: ``app_open``) and of a page or screen view (several per visit: ``page_view``, Mixpanel's
#: ``$mp_web_page_view``, Segment's ``Page Viewed``): both mapped to visit count a visit 1 + its
#: page views.
SESSION = "session"
PAGE_VIEW = "page view"
_PAGE_VIEW = re.compile(
    r"(^|_)(page_?views?|page_viewed|viewed_page|screen_?views?|screen_viewed)$"
)
_SESSION = re.compile(
    r"(^|_)(sessions?|session_start(ed)?|start_session|app_(open(ed)?|launch(ed)?)"
    r"|(web_|website_|site_|store_)?visits?)$"
)


def visit_kind(value: str) -> str | None:
    """:data:`SESSION`, :data:`PAGE_VIEW` or None: what kind of visit an event name counts."""
    key = fold(value)
    if _PAGE_VIEW.search(key) or key in ("页面浏览", "浏览网页"):
        return PAGE_VIEW
    if _SESSION.search(key) or key in ("访问", "网站访问", "官网访问"):
        return SESSION
    return None


#: A lower-case letter followed by a capital: the word break of a camel-case name.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass
class ValueMapping:
    """Source value -> contract value for one column; ``builtin`` adds the column's built-in
    synonyms."""

    explicit: dict[str, str]
    builtin: bool
    synonyms: dict[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        #: the column's values and what they map to, as :func:`map_values` found them
        self.found: dict[str, str | None] = {}
        self._folded = {fold(k): v for k, v in self.explicit.items()}
        self._known = (
            _builtin(self.synonyms if self.synonyms is not None else EVENT_SYNONYMS)
            if self.builtin
            else {}
        )

    def lookup(self, value: str) -> tuple[str | None, str]:
        """(contract value or None, how it matched: ``values:``, ``built-in`` or ``unmapped``)."""
        if value in self.explicit:
            return self.explicit[value], "values:"
        key = fold(value)
        if key in self._folded:
            return self._folded[key], "values:"
        if key in self._known:
            return self._known[key], "built-in"
        words = fold(_CAMEL.sub("_", value))  # Dynamics 365's EmailOpened is "Email Opened"
        if words != key and words in self._known:
            return self._known[words], "built-in"
        return None, "unmapped"

    def hint(self, value: str, column: str) -> str:
        """A suggestion for a value that matched nothing."""
        key = fold(value)
        snippet = f"values: {{{column}: {{{value!r}: <type>}}}}"
        if key in _not_engagement():
            return (
                "a sales/CRM activity, not one of the engagement types the features count; kept "
                "as "
                f"other (to count it as one, add to the map file: {snippet})"
            )
        if key in _checkout_steps():
            return (
                "a step toward an order (cart, checkout), not an order: kept as other (counted "
                "as engagement); the orders are the transactions file's. To leave it out, add to "
                "the map file: " + snippet.replace("<type>", IGNORE)
            )
        names = {fold(n): n for names in SYNONYMS.values() for n in names}
        close = [names[k] for k in difflib.get_close_matches(key, list(names), n=1, cutoff=0.85)]
        close += [n for k, n in names.items() if len(k) >= 2 and not k.isascii() and k in key]
        close += [
            n for k, n in names.items() if len(k) >= 4 and k.isascii() and f"_{k}_" in f"_{key}_"
        ]
        if close:
            target = self._known.get(fold(close[0]), "?")
            if target == "visit" and (session := self._session_of(value)):
                return (
                    f"a page view; this file's {session!r} already counts each visit (visit), so "
                    "as visits page views would count it again: kept as other; to set them "
                    "aside, add to the map file: " + snippet.replace("<type>", IGNORE)
                )
            return (
                f"looks like {close[0]!r} ({target}); if so add to the map file: "
                + snippet.replace("<type>", target)
            )
        return (
            f"no contract type is close; kept as other. If it is one of {', '.join(EVENT_TYPES)}, "
            f"add to the map file: {snippet}"
        )

    def _session_of(self, value: str) -> str | None:
        """The session event of the column mapped to visit, when ``value`` is a page view."""
        if visit_kind(value) != PAGE_VIEW:
            return None
        found = (v for v, t in self.found.items() if t == "visit" and visit_kind(v) == SESSION)
        return next(found, None)


#: A help desk's ticket type asking for money back (Freshdesk's default ``Refund``): an order
#: event (:data:`ORDER_EVENTS`) elsewhere, a ticket beside tickets.
REFUND_REQUESTS = ("refund", "refunds", "refund request", "退款")
_TICKETS = ("support_ticket", "complaint")


def _refund_tickets(rows: list[tuple[str, str | None, str]]) -> list[tuple[str, str | None, str]]:
    """``(source, target, how)`` rows with a built-in ``Refund`` read as a support_ticket where
    every other value of the column is a ticket or complaint (a help desk's ``Type`` column):
    the customer asking for a refund, which the transactions file does not hold. A value that
    matches no type (a feed's own event, landing in other) is no ticket."""
    others = {t for v, t, _ in rows if fold(v) not in _refund_requests()}
    if not others or not others <= set(_TICKETS):
        return rows
    return [
        (v, "support_ticket", how)
        if how == "built-in" and target == ORDER and fold(v) in _refund_requests()
        else (v, target, how)
        for v, target, how in rows
    ]


@functools.cache
def _refund_requests() -> frozenset[str]:
    return frozenset(fold(n) for n in REFUND_REQUESTS)


def ticket_types(types: pd.Series, explicit: dict[str, str]) -> bool:
    """Whether every value of an event type column is a ticket or complaint (a help desk's
    ``Type``), by ``explicit`` (the map file's ``values:``), then the built-in synonyms."""
    mapping = ValueMapping(explicit, builtin=True)
    rows = [(str(v), *mapping.lookup(str(v))) for v in types.dropna().unique()]
    targets = {target for _, target, _ in _refund_tickets(rows)}
    return bool(targets) and targets <= set(_TICKETS)


#: The report's key (``TableReport.formats``) of the tickets :func:`untyped_tickets` typed.
UNTYPED_TICKETS = "ticket types"


def untyped_tickets(types: pd.Series, explicit: dict[str, str]) -> tuple[pd.Series, str | None]:
    """A help desk's tickets left without a type (Zendesk's and Freshdesk's ``Type`` is
    optional) as ``support_ticket`` where every other value of the column is a ticket or
    complaint (by ``explicit``, the map file's ``values:``, then the built-in synonyms), with
    the report's line; else the column as it was and None."""
    blank = types.isna() | types.astype("string").str.strip().eq("")
    if not blank.any() or not ticket_types(types[~blank], explicit):
        return types, None
    said = (
        f"{int(blank.sum()):,} tickets without a type read as support_ticket (the column's "
        "other values are tickets)"
    )
    return types.mask(blank, "support_ticket"), said


def map_values(values: pd.Series, mapping: ValueMapping) -> tuple[pd.Series, pd.DataFrame]:
    """Map a text column; returns the mapped values (``None`` where unmapped) and a per-source
    table."""
    uniques = values.dropna().unique()
    rows = _refund_tickets([(str(v), *mapping.lookup(str(v))) for v in uniques])
    lookup = {value: target for value, (_, target, _) in zip(uniques, rows, strict=True)}
    mapping.found = {source: target for source, target, _ in rows}
    counts = values.value_counts()
    table = pd.DataFrame(rows, columns=["source", "target", "how"])
    table["rows"] = table["source"].map(counts).fillna(0).astype("int64")
    mapped = values.map(lookup, na_action="ignore").astype("string")
    return mapped, table.sort_values(["rows", "source"], ascending=[False, True]).reset_index(
        drop=True
    )
