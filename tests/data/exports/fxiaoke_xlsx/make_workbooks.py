"""Write this case's workbooks (run once; the .xlsx files are committed): the fxiaoke case's
exports as Fxiaoke (纷享销客) itself exports them, to Excel, with typed cells -- dates as date
cells, amounts as numbers where they are numbers, a notes sheet beside the follow-ups, and a
value typed under no header."""

from datetime import datetime
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).parent


def book(name: str, header: list[str], rows: list[list], notes: bool = False) -> None:
    wb = xlsxwriter.Workbook(HERE / name)
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet = wb.add_worksheet("数据")
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                fmt = day if value.hour == value.minute == 0 else stamp
                sheet.write_datetime(r, c, value, fmt)
            elif value is not None:
                sheet.write(r, c, value)
    if notes:
        wb.add_worksheet("说明").write(0, 0, "导出自纷享销客")
    wb.close()


book(
    "客户.xlsx",
    ["客户编号", "客户名称", "创建时间", "所属区域", "客户来源", "客户级别"],
    [
        ["KH-0001", "上海云帆科技有限公司", datetime(2023, 11, 2), "华东", "官网", "A类"],
        ["KH-0002", "北京启明软件有限公司", datetime(2023, 12, 15), "华北", "展会", "B类"],
        ["KH-0003", "广州南方贸易有限公司", datetime(2024, 1, 8), "华南", "转介绍", "A类"],
        ["KH-0004", "成都天府食品有限公司", "2024年1月20日", "西南", "官网", "C类"],
        ["KH-0005", "杭州西湖文化传媒有限公司", datetime(2024, 2, 1), "华东", "电话营销", "B类"],
    ],
)
book(
    "销售订单.xlsx",
    ["订单编号", "客户编号", "下单日期", "订单金额（元）", "产品分类", "订单状态"],
    [
        ["SO-240301", "KH-0001", datetime(2024, 3, 5, 14, 2), 12800, "软件订阅", "已完成"],
        ["SO-240302", "KH-0001", datetime(2024, 4, 18), 3500.0, "实施服务", "已完成"],
        ["SO-240303", "KH-0002", datetime(2024, 3, 21, 9, 30), 8800, "软件订阅", "已完成"],
        ["SO-240304", "KH-0003", "2024年3月28日", "1.2万", "硬件", "已完成"],
        ["SO-240305", "KH-0002", datetime(2024, 4, 2, 10, 0), -880, "软件订阅", "已退款"],
        ["SO-240306", "KH-0004", datetime(2024, 4, 10, 16, 20), "待确认", "实施服务", "审批中"],
        ["SO-240307", "KH-0009", datetime(2024, 4, 12, 11, 0), 2000, "软件订阅", "已完成"],
        ["SO-240308", "KH-0005", datetime(2024, 5, 6), 15600, "软件订阅", "已完成"],
    ],
)
book(
    "跟进记录.xlsx",
    ["客户编号", "跟进时间", "跟进类型", "跟进内容"],
    [
        ["KH-0001", datetime(2024, 3, 1, 10, 0), "拜访", "上门演示"],
        ["KH-0001", datetime(2024, 3, 2, 9, 0), "登录", None],
        ["KH-0001", datetime(2024, 3, 3, 8, 30), "邮件打开", "三月通讯"],
        ["KH-0002", datetime(2024, 3, 10, 15, 45), "工单", "发票问题"],
        ["KH-0002", datetime(2024, 3, 11, 16, 0), "投诉", "交付延迟"],
        ["KH-0002", datetime(2024, 3, 20, 11, 0), "问卷调查", "满意度 3 分"],
        ["KH-0003", datetime(2024, 4, 1, 14, 0), "电话", "续费沟通", "备注写在表头外"],
        ["KH-0003", datetime(2024, 4, 2, 14, 0), "微信", "发送报价"],
        ["KH-0004", "2024年4月9日", "客户投诉", "服务响应慢"],
    ],
    notes=True,
)
