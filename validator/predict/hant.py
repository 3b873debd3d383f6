"""Traditional -> Simplified Chinese, character by character, for matching words.

Chats mix the two scripts (a Taiwanese or Hong Kong buyer, a merchant's IME set to
繁體), and the seed itself is in Traditional, so every text the predictor reads is
folded to Simplified before word lists are matched; the word lists are folded the
same way, so a list may be written in either script. Only characters whose two forms
differ are listed: about 780 common ones, written by hand (every Traditional form in the
word lists and the words around them, and the everyday characters of chat). Folding
character by character is enough for matching: a Traditional character whose Simplified
form depends on the word (乾/干) only needs to fold the same way in texts and lists.
"""

from __future__ import annotations

import re

# Pairs: a Traditional character followed by its Simplified form.
_PAIRS = (
    "騙骗買买別别窮穷癡痴腦脑殘残經经貨货廢废賤贱臉脸滾滚給给東东媽妈賴赖無无潑泼閉闭丟丢現现沒没養养質质愛爱關关與与麼么嗎吗說说們们這这個个種种認认為为覺觉過过會会"
    "並并從从絕绝決决難难該该親亲遞递員员機机問问題题聽听辦办煩烦隨随訴诉裡里裏里邊边錢钱話话讓让還还對对幾几懶懒時时間间網网頁页書书頭头豬猪騷骚處处應应後后來来訂订"
    "單单號号碼码歡欢氣气壞坏開开啟启換换貼贴級级傳传統统當当衛卫點点擊击攔拦簽签記记錄录發发僅仅態态務务極极罵骂費费強强虛虚約约舉举證证憑凭據据規规範范誤误爭争議议"
    "場场驗验實实諾诺詳详談谈損损錯错誇夸廣广違违屬属識识產产權权進进則则滅灭險险擔担鮮鲜適适導导購购將将護护視视頻频製制補补樣样滿满鐘钟鍾钟妳你瘋疯惡恶噁恶爛烂戲戏"
    "聾聋啞哑醜丑髒脏蟲虫渾浑賊贼雞鸡鴨鸭龜龟孫孙兒儿爺爷婦妇擺摆講讲稱称謝谢請请幫帮馬马盡尽儘尽謂谓隻只紙纸筆笔張张嚴严厲厉鬧闹閒闲閑闲膽胆殺杀門门車车運运輸输郵邮"
    "順顺豐丰圓圆達达韻韵聯联繫系係系連连線线辭辞雖虽雙双體体價价況况樂乐寫写讀读顯显總总結结圖图塊块團团區区廠厂倉仓庫库戶户銷销賣卖贈赠寶宝貝贝優优賠赔償偿喪丧療疗"
    "醫医藥药歲岁歷历曆历紀纪劃划畫画讚赞豈岂禮礼確确條条註注冊册撥拨飛飞鳥鸟魚鱼龍龙閃闪聞闻閱阅陽阳陰阴隊队際际隱隐電电雲云靈灵靜静頂顶項项須须預预領领顧顾風风飽饱"
    "餓饿餘余驚惊髮发鬥斗麥麦齊齐嘆叹嚇吓圍围國国園园堅坚報报塵尘壓压聲声殼壳備备復复複复夠够夥伙奪夺學学寧宁審审專专尋寻層层島岛幣币師师帳帐帶带幹干乾干廁厕廚厨廳厅"
    "彈弹歸归徑径徵征憂忧懷怀戀恋戰战拋抛捨舍掃扫掛挂採采揚扬揮挥搖摇搶抢擁拥擇择擠挤擴扩擾扰攝摄攤摊敵敌數数斷断於于暫暂曉晓樓楼標标樹树橋桥檢检櫃柜欄栏毀毁溝沟滯滞"
    "漢汉潔洁濃浓濕湿濟济灣湾灑洒爐炉爾尔牆墙狀状獨独獲获獻献環环異异疊叠盜盗監监盤盘眾众衆众瞞瞒礙碍禍祸離离稅税積积穩稳窩窝竊窃競竞節节簡简籃篮糧粮糾纠紅红紋纹納纳"
    "純纯紛纷細细終终組组絡络絲丝綁绑綠绿維维緊紧編编緩缓練练縣县縫缝縮缩績绩織织繩绳繳缴繼继續续罰罚罷罢羅罗義义習习聖圣聰聪職职肅肃脫脱腫肿腳脚膚肤膠胶臨临舊旧藍蓝"
    "蘋苹虧亏蝦虾術术衝冲裝装褲裤襪袜見见覽览觀观觸触計计訊讯討讨訓训託托訪访設设許许診诊詐诈評评詞词詢询試试詩诗誌志誕诞語语誠诚誰谁課课調调諒谅論论謀谋謊谎謎谜謠谣"
    "譯译譽誉變变貓猫負负財财貧贫販贩貪贪責责貴贵貸贷賀贺資资賓宾賬账賭赌賺赚賽赛贊赞贏赢趕赶跡迹蹤踪軌轨軍军軟软較较載载輕轻輪轮轉转農农週周遙遥遠远遲迟選选遺遗鄉乡"
    "釋释銀银銳锐鋪铺鍋锅鍵键鎖锁鏈链鏡镜鐵铁鑰钥長长閘闸闆板陣阵陳陈陸陆階阶雜杂響响頑顽顆颗額额顏颜願愿類类颱台臺台飄飘飯饭飲饮飾饰館馆餅饼駕驾騎骑驅驱骯肮鬆松鬱郁"
    "鵝鹅鹽盐麗丽黃黄黨党嗚呜嘔呕噴喷嚐尝囑嘱塗涂奧奥獎奖奬奖妝妆娛娱寬宽屆届屍尸彎弯徹彻悅悦悶闷惱恼慘惨慣惯慮虑憐怜憤愤懸悬懼惧捲卷掙挣攜携敗败曬晒棄弃槍枪橫横檔档"
    "殯殡汙污沖冲淚泪淨净淺浅測测湯汤溫温漲涨澤泽烏乌煙烟熱热燈灯燒烧燙烫營营牽牵狹狭獄狱獵猎瑣琐畢毕皺皱盃杯睏困瞭了磚砖礦矿祕秘禦御窯窑竄窜簾帘籤签糞粪縱纵羨羡翹翘"
    "脹胀膩腻臟脏艱艰蒼苍蓋盖薦荐蘆芦虜虏蠅蝇誒诶譏讥譴谴豎竖貍狸賢贤贓赃趙赵軀躯轎轿迴回鄧邓鄭郑釀酿鈍钝鉤钩鋸锯錶表鍊炼闊阔隸隶鞏巩韌韧頸颈顛颠颳刮餵喂饑饥騰腾驢驴"
    "驟骤鬍胡鴉鸦鷹鹰麵面黴霉齡龄戔戋鹹咸謹谨撿捡揀拣竅窍鐺铛嗆呛嘮唠嘰叽嚨咙嚮向噸吨囂嚣姍姗孃娘寵宠幟帜廬庐徠徕慫怂懺忏擰拧擱搁擲掷攏拢曠旷朧胧櫻樱殲歼氳氲濁浊瀉泻"
    "燼烬獅狮癟瘪瞼睑砲炮礪砺穢秽篩筛糴籴紮扎絞绞綸纶縛缚繞绕纏缠罌罂羶膻聶聂脛胫膿脓艷艳蘊蕴蟻蚁諷讽謬谬譜谱貶贬賄贿賑赈賂赂贖赎趲趱蹺跷躡蹑軋轧轄辖辯辩遜逊邁迈醬酱"
    "鈣钙鋼钢錘锤鍍镀鐮镰閩闽闡阐陝陕隕陨霽霁韋韦頹颓顫颤饞馋馭驭駁驳駭骇鬨哄鯊鲨鵡鹉黷黩齷龌齪龊"
)

TRADITIONAL_TO_SIMPLIFIED: dict[int, str] = {
    ord(_PAIRS[i]): _PAIRS[i + 1] for i in range(0, len(_PAIRS), 2)
}


_ANY_TRADITIONAL = re.compile("[" + "".join(chr(c) for c in TRADITIONAL_TO_SIMPLIFIED) + "]")


# Distinct Traditional characters folded one by one before the whole text is translated.
MAX_REPLACED_ONE_BY_ONE = 32


def to_simplified(text: str) -> str:
    """``text`` with every listed Traditional character replaced by its Simplified form."""
    # translate() costs a quarter of a second a megabyte of Chinese; a search and a
    # replace per distinct character present (a chat has a few) cost milliseconds.
    m = _ANY_TRADITIONAL.search(text)
    for _ in range(MAX_REPLACED_ONE_BY_ONE):
        if m is None:
            return text
        ch = m.group(0)
        text = text.replace(ch, TRADITIONAL_TO_SIMPLIFIED[ord(ch)])
        m = _ANY_TRADITIONAL.search(text, m.start())
    return text.translate(TRADITIONAL_TO_SIMPLIFIED) if m is not None else text
