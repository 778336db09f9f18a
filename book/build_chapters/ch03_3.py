"""3.3 优化算法 → chapters/ch03_3_optimizers.ipynb  (run: .venv/bin/python book/build_chapters/ch03_3.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 3.3 优化算法

3.2 节的反向传播给出了梯度 $\partial J / \partial \theta$；这一节回答"拿到梯度以后，参数该怎样走"。源文档列出了五种常用方法——随机梯度下降、动量法、AdaGrad、RMSProp 和 Adam——并给出了 Adam 的更新式。
我们按它们被发明的顺序讲：每一种都是为了解决前一种的某个具体毛病。每个公式都写全符号；每个算法都给出 nnlib 的真实实现（`nnlib.optim`，名称、参数和默认值都与 `torch.optim` 相同），
在二维函数上看它们怎样走，最后在一个真实的网络上比较它们。

**本节通用的记号**（所有运算——平方、开方、除法——都对向量**逐元素**进行）：

| 符号 | 含义 | 形状 |
|---|---|---|
| $\theta_t$ | 第 $t$ 步更新之后的全部参数（拉成一个向量）；$\theta_0$ 是初始值 | $\mathbb{R}^{P}$ |
| $t$ | 步数，从 **1** 开始计 | 正整数 |
| $B_t$ | 第 $t$ 步随机抽取的一个小批量样本 | 样本集合 |
| $g_t = \nabla_\theta J_{B_t}(\theta_{t-1})$ | 在当前参数处、用小批量 $B_t$ 算出的梯度（3.2 节的反向传播） | $\mathbb{R}^{P}$ |
| $\alpha$ | 学习率（步长），`lr` | 正实数 |
| $\varepsilon$ | 防止除以 0 的小常数，`eps` | 正实数 |

源文档写的是 $\theta_{t+1} = \theta_t - \dots$，用 $\nabla_\theta J_t$ 表示第 $t$ 步的梯度；这里写 $\theta_t = \theta_{t-1} - \dots$（与 Adam 原论文 {cite}`kingma2015adam` 和 PyTorch 一致），两者只是下标平移。
要紧的是**步数从 1 开始**：Adam 的偏差修正要除以 $1 - \beta^t$，$t = 0$ 时分母为 0。
"""),
    code(r"""
import inspect

import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import nnlib
from nnlib import nn, optim
from nnlib.nn.module import Parameter
from nnlib.surfaces import get_surface, trajectory
from nnlib.widgets import AdamExplorer, ModelTarget, OptimizerRace
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.1
cells += [
    md(r"""
## 3.3.1 随机梯度下降（SGD）及其毛病

$$
\theta_t = \theta_{t-1} - \alpha\, g_t .
$$

"随机"指 $g_t$ 只用一个小批量算出：它是整个训练集上梯度的**无偏估计**，但计算代价与训练集大小无关。这个想法可以追溯到 Robbins 与 Monro 的随机逼近 {cite}`robbins1951stochastic`。
SGD 只有一个超参数 $\alpha$，它的毛病也都出在"所有方向共用一个步长"上。

**病态曲面。** 看最简单的例子——一个两个方向曲率相差 $\kappa$ 倍的二次函数（nnlib 的 `surfaces.QUADRATIC`，$\kappa = 25$）：

$$
f(x, y) = \tfrac12\left(x^2 + \kappa y^2\right), \qquad \nabla f = (x,\; \kappa y)^\top .
$$

梯度下降的两个坐标互不影响：$x_t = (1 - \alpha)\, x_{t-1}$，$y_t = (1 - \alpha\kappa)\, y_{t-1}$，所以 $x_t = (1 - \alpha)^t x_0$，$y_t = (1 - \alpha \kappa)^t y_0$。
要不发散，需要 $|1 - \alpha\kappa| < 1$，即 $\alpha < 2/\kappa = 0.08$——**步长被最陡的方向限制住**；而平缓方向每步只缩小到 $1 - \alpha > 0.92$ 倍，走得很慢。
$\alpha$ 接近上限时 $1 - \alpha\kappa$ 接近 $-1$，$y$ 每步变号：路径在陡峭方向上来回"之"字振荡。曲率之比 $\kappa$（条件数）越大，这个矛盾越尖锐，而深度网络的损失曲面往往是高度病态的。
"""),
    code(r"""
quadratic = get_surface("quadratic")
runs = {f"SGD α={lr}": trajectory(quadratic, lambda ps, lr=lr: optim.SGD(ps, lr=lr), 100) for lr in (0.02, 0.07, 0.085)}
for name, tr in runs.items():
    state = "发散" if tr.diverged or abs(tr.values[-1]) > 1e6 else f"f = {tr.values[-1]:.1e}"
    print(f"{name:<12} 100 步后 {state}；y 方向每步乘以 1 − ακ = {1 - float(name.split('=')[1]) * 25:+.3f}")
""", tags=[CHECK]),
    md(r"""
$\alpha = 0.085 > 0.08$ 时 $|1 - \alpha\kappa| = 1.125$，$y$ 每步放大 12.5%，100 步后已经大到 $10^5$ 量级；$\alpha = 0.02$ 时 $y$ 不振荡，但 $x$ 方向每步只缩小 2%。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.2
cells += [
    md(r"""
## 3.3.2 动量法与 Nesterov 动量

**动量法**（momentum，Polyak 的"重球法" {cite}`polyak1964some`）让参数像一个有惯性的球：保留一个"速度" $v_t$，它是过去梯度的累积：

$$
v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, v_t, \qquad v_0 = 0 ,
$$

其中 $\mu \in [0, 1)$ 是动量系数（常取 0.9），$v_t \in \mathbb{R}^P$ 存在 `optimizer.state[p]["momentum_buffer"]` 里。展开得 $v_t = \sum_{i=1}^{t} \mu^{t-i} g_i$：

- 在**方向一致**的坐标上（病态曲面的平缓方向），梯度一直同号，$v_t \to g / (1 - \mu)$，有效步长放大为 $\alpha / (1 - \mu)$（$\mu = 0.9$ 时是 10 倍）；
- 在**来回振荡**的坐标上（陡峭方向），相邻梯度符号相反，在 $v_t$ 里相互抵消。

所以动量法可以用较小的 $\alpha$ 压住陡峭方向，同时在平缓方向上加速。有些书写成 $v_t = \mu v_{t-1} - \alpha g_t$，$\theta_t = \theta_{t-1} + v_t$ {cite}`sutskever2013importance`：学习率不变时两者完全等价（速度差一个因子 $-\alpha$）。

**Nesterov 动量** {cite}`nesterov1983method` 在"先按惯性走一步之后的位置"上看梯度，能更早地刹车。Sutskever 等人 {cite}`sutskever2013importance` 把它改写成只在当前位置求梯度的形式，PyTorch 与 nnlib 用的就是这个形式：

$$
v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\,\bigl(g_t + \mu\, v_t\bigr).
$$

nnlib 的实现（`dampening` $\tau$ 是把 $g_t$ 乘上 $1 - \tau$ 的选项，默认为 0；`weight_decay` 见 3.3.5 节末尾）：
"""),
    code(r"""
print(inspect.getsource(optim.SGD._update))
"""),
    md(r"""
在同一个二次函数上比较，数一数各方法第一次把 $f$ 降到 $10^{-6}$ 以下用了多少步。对二次函数，两种方法的最佳参数都能解析求出 {cite}`polyak1964some`（$L = \kappa$ 与 $1$ 是两个方向的曲率）：

- SGD：$\alpha = 2/(L + 1) = 2/26$，每步误差缩小到 $(\kappa - 1)/(\kappa + 1) \approx 0.92$ 倍；
- 动量法：$\alpha = 4/(\sqrt{L} + 1)^2 = 1/9$，$\mu = \bigl((\sqrt{\kappa} - 1)/(\sqrt{\kappa} + 1)\bigr)^2 = 4/9$，每步缩小到 $(\sqrt{\kappa} - 1)/(\sqrt{\kappa} + 1) \approx 0.67$ 倍——依赖于 $\sqrt{\kappa}$ 而不是 $\kappa$。

再加上深度学习中最常用的 $\mu = 0.9$（配 $\alpha = 0.02$）和同样参数的 Nesterov 动量：
"""),
    code(r"""
contenders = {
    "SGD α=0.02": lambda ps: optim.SGD(ps, lr=0.02),
    "SGD α=2/26（最佳）": lambda ps: optim.SGD(ps, lr=2 / 26),
    "动量 α=1/9, μ=4/9（最佳）": lambda ps: optim.SGD(ps, lr=1 / 9, momentum=4 / 9),
    "动量 α=0.02, μ=0.9": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9),
    "Nesterov α=0.02, μ=0.9": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True),
}
paths = {name: trajectory(quadratic, make, 300) for name, make in contenders.items()}
for name, tr in paths.items():
    below = np.flatnonzero(tr.values < 1e-6)
    print(f"{name:<26} f < 1e-6 所需步数: {below[0] if len(below) else '300 步内未达到'}")
""", tags=[CHECK]),
    code(r"""
X_grid, Y_grid, Z_grid = quadratic.grid(200)
fig, axes = plt.subplots(1, 5, figsize=(19, 3.2), sharey=True)
for ax, (name, tr) in zip(axes, paths.items()):
    ax.contour(X_grid, Y_grid, Z_grid, levels=20, cmap="viridis", linewidths=0.8)
    ax.plot(tr.points[:60, 0], tr.points[:60, 1], "o-", ms=2.5, lw=1, color="C3")
    ax.plot(*quadratic.minimum, "k*", ms=10)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
fig.suptitle("病态二次函数 f = (x² + 25y²)/2 上的前 60 步：SGD 要么慢、要么振荡；调好的动量法快得多，μ 太大则来回绕圈", y=1.05)
fig.tight_layout()
plt.show()
"""),
    md(r"""
调好参数的动量法比调好参数的 SGD 快三倍多。常用的 $\mu = 0.9$ 在这个只有两个方向的问题上**动量过大**：路径绕着最小值转圈，反而比最佳的 SGD 慢；Nesterov 动量的"提前刹车"减轻了这种过冲。
真实网络里没有办法解析求出最佳参数，$\mu = 0.9$ 是经验上稳妥的默认值。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.3 / 3.3.4
cells += [
    md(r"""
## 3.3.3 AdaGrad：每个坐标自己的步长

动量法没有改变"所有坐标共用一个 $\alpha$"。**AdaGrad** {cite}`duchi2011adaptive` 让每个坐标的步长由它自己的梯度历史决定：

$$
s_t = s_{t-1} + g_t \odot g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, \frac{g_t}{\sqrt{s_t} + \varepsilon}, \qquad s_0 = 0 ,
$$

其中 $s_t \in \mathbb{R}^P$ 是每个坐标梯度平方的累加和（`state["sum"]`），$\varepsilon$ 在 PyTorch 与 nnlib 中默认为 $10^{-10}$。

**为什么发明它。** 梯度一直很大的坐标，$\sqrt{s_t}$ 也大，步子被压小；很少出现、梯度很小的坐标（例如文本中的罕见词、稀疏特征）则得到相对大的步长。
它对每个坐标分别按梯度的大小归一化：在 3.3.1 节的二次函数上，从起点 $(-4, 1)$ 出发时梯度是 $(-4, 25)$，两个分量相差六倍多，AdaGrad 的第一步却在两个坐标上都恰好走 $\alpha$（$g_1 / \sqrt{g_1^2} = \pm 1$）；把 $f$ 整体乘以常数 $c$，$g_t$ 和 $\sqrt{s_t}$ 同乘 $c$，步长不变。

**它的毛病。** $s_t$ 只增不减，步长单调变小。即使梯度一直是常数 $g$，第 $t$ 步也只走 $\alpha\, g / \sqrt{t g^2} = \alpha / \sqrt{t}$（练习 4）：训练越久越走不动，这在非凸的深度网络上常常停得太早。

## 3.3.4 RMSProp：只记住最近的梯度

**RMSProp**（Hinton 在 Coursera 课程中提出，未正式发表 {cite}`hinton2012rmsprop`）把累加和换成**指数滑动平均**，旧的梯度逐渐被遗忘：

$$
r_t = \rho\, r_{t-1} + (1 - \rho)\, g_t \odot g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, \frac{g_t}{\sqrt{r_t} + \varepsilon}, \qquad r_0 = 0 ,
$$

其中 $r_t$ 是梯度平方的滑动平均（`state["square_avg"]`），衰减率 $\rho \in [0, 1)$ 在 PyTorch 与 nnlib 中叫 `alpha`，默认 0.99（Hinton 的讲义建议 0.9），$\varepsilon$ 默认 $10^{-8}$。
$r_t$ 大约是最近 $1/(1-\rho)$ 步梯度平方的平均，所以梯度大小稳定时每步大约走 $\alpha$，不会像 AdaGrad 那样越走越慢。

留意一个细节：$r_0 = 0$，前几步的 $r_t$ 偏小（$r_1 = (1 - \rho) g_1^2$，只有真实大小的 1%），于是开头几步的步长偏大——RMSProp 没有处理这个问题，Adam 处理了。
"""),
    code(r"""
print(inspect.getsource(optim.Adagrad._update))
print(inspect.getsource(optim.RMSprop._update))
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.5 Adam
cells += [
    md(r"""
## 3.3.5 Adam：动量 + 自适应步长 + 偏差修正

**Adam**（adaptive moment estimation）{cite}`kingma2015adam` 把动量（梯度的滑动平均）和 RMSProp（梯度平方的滑动平均）结合起来，并修正了两者在开头的偏差。完整的更新是：

$$
\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, &\qquad m_0 &= 0, \\
v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t \odot g_t, & v_0 &= 0, \\
\hat m_t &= \frac{m_t}{1 - \beta_1^t}, & \hat v_t &= \frac{v_t}{1 - \beta_2^t}, \\
\theta_t &= \theta_{t-1} - \alpha\, \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon} .
\end{aligned}
$$

| 符号 | 含义 | nnlib / PyTorch |
|---|---|---|
| $m_t \in \mathbb{R}^P$ | 一阶矩（梯度均值）的估计：梯度的指数滑动平均 | `state["exp_avg"]` |
| $v_t \in \mathbb{R}^P$ | 二阶矩（梯度平方的均值，**不是**方差）的估计 | `state["exp_avg_sq"]` |
| $\beta_1, \beta_2 \in [0, 1)$ | 两个滑动平均的衰减率 | `betas=(0.9, 0.999)` |
| $\beta_1^t, \beta_2^t$ | $\beta$ 的 $t$ 次**幂**（不是上标） | `state["step"]` 记录 $t$ |
| $\hat m_t, \hat v_t$ | **偏差修正**后的估计 | 在 `step()` 里临时算出 |
| $\alpha$ | 学习率 | `lr=1e-3` |
| $\varepsilon$ | 加在 $\sqrt{\hat v_t}$ 之后（根号外）的小常数 | `eps=1e-8` |

**源文档漏掉了什么。** 源文档给出了 $m_t$、$v_t$ 和 $\theta$ 的更新，却只用一句"$\hat{m}_t$ 和 $\hat{v}_t$ 为偏差修正后的估计值"带过，没有给出 $\hat m_t = m_t / (1 - \beta_1^t)$、$\hat v_t = v_t / (1 - \beta_2^t)$ 这两个定义——
而它们恰恰是 Adam 与"动量 + RMSProp"的区别。另外，$(\nabla_\theta J_t)^2$ 是逐元素平方，$\varepsilon$ 在根号之外，$t$ 从 1 开始，这些源文档也没有写明。

**为什么要修正。** 把递推展开：$m_t = (1 - \beta_1) \sum_{i=1}^{t} \beta_1^{t-i} g_i$。如果梯度一直是同一个常数 $g$，

$$
m_t = (1 - \beta_1)\, g \sum_{i=1}^{t} \beta_1^{t-i} = \bigl(1 - \beta_1^t\bigr)\, g ,
$$

权重之和只有 $1 - \beta_1^t$ 而不是 1，因为初值 $m_0 = 0$ 把估计拉向了 0。除以 $1 - \beta_1^t$ 正好把它还原成 $g$。$\beta_1 = 0.9$、$t = 10$ 时 $1 - 0.9^{10} \approx 0.65$：**未修正的 $m$ 只有梯度的 65%**。
$v_t$ 的偏差更严重：$1 - 0.999^{10} \approx 0.01$。用 nnlib 的 `Adam` 对一个梯度恒为 $g = 2$ 的参数走 10 步，直接读它的状态：
"""),
    code(r"""
theta = Parameter(np.zeros(1))
adam = optim.Adam([theta], lr=0.01)                    # β₁ = 0.9, β₂ = 0.999, ε = 1e-8
g = 2.0
for t in range(10):
    theta.grad = np.array([g])                         # 梯度恒为 g
    adam.step()
state = adam.state[theta]
t = state["step"]
m, v = state["exp_avg"][0], state["exp_avg_sq"][0]
m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
print(f"t = {t}")
print(f"m / g      = {m / g:.4f}   （1 − 0.9^10   = {1 - 0.9**10:.4f}）")
print(f"v / g²     = {v / g**2:.4f}   （1 − 0.999^10 = {1 - 0.999**10:.4f}）")
print(f"m̂ / g      = {m_hat / g:.4f},  v̂ / g² = {v_hat / g**2:.4f}")
print(f"不修正的步长 m/√v   = {m / np.sqrt(v):.2f} × α")
print(f"修正后的步长 m̂/√v̂ = {m_hat / np.sqrt(v_hat):.2f} × α")
""", tags=[CHECK]),
    md(r"""
两个修正不是可有可无的：若都不修正，第 10 步的步长是 $\alpha \cdot 0.65 g / \sqrt{0.01 g^2} \approx 6.5\alpha$，而第 1 步是 $\alpha \cdot 0.1 / \sqrt{0.001} \approx 3.2\alpha$——开头的步长被系统地放大了好几倍；
修正后恰好是 $\alpha$。这也说明了 Adam 步长的一个重要性质：**每个坐标每步移动的距离大约是 $\alpha$，与梯度的大小无关**（梯度的尺度在 $\hat m_t / \sqrt{\hat v_t}$ 中约掉了），所以 $\alpha$ 可以直接理解为"每步最多走多远"。

nnlib 的 Adam 更新（`amsgrad` 是一个变体选项，默认关闭）：
"""),
    code(r"""
print(inspect.getsource(optim.Adam._update))
"""),
    md(r"""
代码里把两个修正因子折进了两个标量：`step_size` $= \alpha / (1 - \beta_1^t)$，`denominator` $= \sqrt{v_t} / \sqrt{1 - \beta_2^t} + \varepsilon = \sqrt{\hat v_t} + \varepsilon$，
所以 `step_size * m / denominator` 正是 $\alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$，只是少建了两个临时数组（PyTorch 也这样写）。$m_t$、$v_t$ 则原地更新（`m *= beta1` 等）。

`weight_decay` 参数在 `Adam` 中是把 $\lambda \theta$ 加进梯度（L2 正则化），它也会被 $\sqrt{\hat v_t}$ 缩放；**AdamW** {cite}`loshchilov2019decoupled` 改为在更新之外直接做 $\theta \leftarrow \theta (1 - \alpha\lambda)$（"解耦的权重衰减"），在 nnlib 和 PyTorch 中都叫 `AdamW`。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.6 widgets
cells += [
    md(r"""
## 3.3.6 优化器赛跑

`nnlib.widgets.OptimizerRace` 让六个优化器从同一个起点出发，在二维测试函数上各走若干步，把路径画在等高线上（★ 是最小值）。实线箭头是当前点的负梯度方向 $-\nabla f$，虚线箭头是"速度"（动量法的 $-v_t$、Adam 的 $-m_t$）。
每个优化器的学习率是针对每个函数单独选的（`nnlib.widgets.race.DEFAULT_LR`，对 SGD 类取能稳定的最大值），控件中的"学习率倍数"把它们同时放大或缩小。

先看 **Rosenbrock 函数** $f(x, y) = (1 - x)^2 + 100 (y - x^2)^2$：一条弯曲的窄谷，谷底很平，最小值在 $(1, 1)$。网页版的最终画面里，每个彩色圆点会沿自己的路径循环播放；
**在 Jupyter 或 Colab 中运行时，可以换函数、改步数、学习率倍数和动量，勾选参赛者，再按"开始比赛"看动画。**
"""),
    code(r"""
race = OptimizerRace("rosenbrock", steps=300)
display(race)
"""),
    md(r"""
再换到**鞍点** $f(x, y) = x^2 - y^2 + y^4/4$：原点是鞍点，两个最小值在 $(0, \pm\sqrt{2})$。起点 $(-2, 10^{-3})$ 几乎正对着鞍点，$y$ 方向的梯度极小：
"""),
    code(r"""
saddle_race = OptimizerRace("saddle", steps=100)
display(saddle_race)
saddle_race.steps.value = 300          # 与拖动"步数"滑块相同
saddle_race.run();                     # 与按"开始比赛"相同（只是不播放动画）；分号：不再显示一次返回值
"""),
    md(r"""
各优化器在四个测试函数上走 300 步后的函数值（与赛跑中显示的相同；Rosenbrock 与鞍点的最小值分别是 0 和 $-1$，Beale 与二次函数的最小值是 0）：
"""),
    code(r"""
from nnlib.widgets.race import DEFAULT_LR, RACERS

print(f"{'':<10}" + "".join(f"{name:>11}" for name in RACERS))
for surface in ["quadratic", "rosenbrock", "beale", "saddle"]:
    row = []
    for name, make in RACERS.items():
        tr = trajectory(surface, lambda ps, make=make, lr=DEFAULT_LR[surface][name]: make(ps, lr, 0.9), 300)
        row.append("发散" if tr.diverged else f"{tr.values[-1]:.1e}")
    print(f"{surface:<10}" + "".join(f"{v:>12}" for v in row))
""", tags=[CHECK]),
    md(r"""
读这张表要小心：**没有一个优化器处处最好**。在 Rosenbrock 的弯曲窄谷里，带动量的两种方法走得最远，SGD 和 AdaGrad 几乎停在谷底的半路；在 Beale 函数上反而是 RMSProp 最好、Adam 最差。
在鞍点上，SGD 300 步还没有离开鞍点附近（$f$ 仍在 $-0.13$）：它在 $y$ 方向上的步长与极小的梯度成正比。动量法靠累积速度、自适应方法靠按梯度大小归一化步长，都沿 $y$ 方向滑到了最小值附近。
二维函数上的结论只是直觉，不能直接搬到上百万维的网络上；3.3.8 节会在真实的网络上比较。

## 3.3.7 Adam 内部：一步一步看

`nnlib.widgets.AdamExplorer` 每走一步，就从优化器的状态中读出所选坐标的 $g_t$、$m_t$、$v_t$、$\hat m_t$、$\hat v_t$，两个偏差修正因子 $1/(1 - \beta_1^t)$、$1/(1 - \beta_2^t)$，
以及 Adam 实际走的步长 $\alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$ 与普通梯度下降的步长 $\alpha g_t$。滑块可以改 $\alpha$、$\beta_1$、$\beta_2$、$\varepsilon$，按钮可以"单步""运行 N 步""重置"。

先在病态二次函数上运行 60 步（$\alpha = 0.1$）：
"""),
    code(r"""
explorer = AdamExplorer("quadratic", lr=0.1)
display(explorer)
explorer.run(60);
"""),
    md(r"""
第一张图中，虚线 $\hat m$ 从第一步起就与梯度 $g$ 同一量级，而未修正的 $m$ 要过十几步才追上来；第三张图的两个修正因子从 10 和 1000 开始下降，$1/(1-\beta_1^t)$ 几十步后就接近 1，$1/(1-\beta_2^t)$ 要几千步；
第四张图中（x 坐标），Adam 的步长在前 20 步都接近 $\alpha = 0.1$，快到最小值时才变小；梯度下降的步长 $\alpha g$ 则随梯度从 0.4 降到 0.0015，跨了两个多数量级。在坐标下拉框中把 x 换成 y，可以看到陡峭方向上的情形。

同一个探索器也可以看**真实网络**的参数：`ModelTarget` 在手写数字数据的小批量上训练一个多层感知机，追踪第一层的三个权重。
"""),
    code(r"""
digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target.astype(np.int64), test_size=0.25, random_state=0, stratify=digits.target)


def digits_mlp():
    nnlib.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).double()


target = ModelTarget(digits_mlp, nn.CrossEntropyLoss(), X_train, y_train, batch_size=64)
net_explorer = AdamExplorer(target, lr=3e-3)
display(net_explorer)
net_explorer.run(100);
"""),
    code(r"""
h = net_explorer.history
print("偏差修正因子 1/(1−β₁ᵗ) 与 1/(1−β₂ᵗ)：")
for t in (1, 10, 100):
    print(f"  t = {t:>3}:  {h['bias1'][t - 1]:8.3f}  {h['bias2'][t - 1]:9.3f}")
print("追踪的坐标:", [name for name, _, _ in target.coordinates])
""", tags=[CHECK]),
    md(r"""
默认显示的坐标 `0.weight[40,48]` 是第 1 层权重矩阵第 40 行、第 48 列（从 0 数）的元素，它连接第 48 个像素（8×8 图像第 7 行最左边的一格）与第 1 层的第 40 个单元。这个像素在大多数图像里是空白（值为 0），所以这个权重的梯度在大多数步都恰好为 0，只在小批量里偶尔有笔画经过那里时出现一个尖峰。
普通梯度下降在这样的坐标上几乎不动（$\alpha g_t$ 多数时候为 0）；Adam 的 $\hat m_t$ 把每个尖峰摊到之后的若干步，$\sqrt{\hat v_t}$ 记住了尖峰的大小并慢慢衰减，于是 Adam 在这个很少被激活的权重上每步仍走 $10^{-3}$ 量级——这正是 AdaGrad 以来的自适应方法对**稀疏特征**的好处。在坐标下拉框中可以换看另外两个权重。
第 100 步时 $1/(1-\beta_2^t)$ 仍约为 10.5：**没有偏差修正，前几百步的 $v_t$ 会严重偏小**。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.8 digits
cells += [
    md(r"""
## 3.3.8 在真实网络上比较：手写数字

数据是 scikit-learn 自带的 8×8 手写数字（1797 张，离线可用），按 3:1 分成训练集（1347 张）和测试集（450 张）。网络是 $64 \to 64 \to 32 \to 10$ 的 ReLU 多层感知机（float64），
每个优化器都从**同一组初始参数**出发，用同样顺序的小批量（大小 64，每轮 21 个）训练 15 轮（315 步）。

学习率对结果的影响往往比优化器的选择更大，所以公平的比较要给每个优化器挑它自己的学习率。下面的学习率是对每个优化器在 $\{10^{-3}, 3 \times 10^{-3}, 10^{-2}, \dots, 0.3, 1\}$ 中搜索、取最终训练损失最低者得到的
（把 `RUN_LR_SWEEP` 改为 `True` 可以自己重做这个搜索，约需半分钟）。注意自适应方法（RMSProp、Adam）的最佳学习率比 SGD 类小一两个数量级：它们每步每个坐标大约走 $\alpha$ 那么远，而 SGD 的步长还要乘上梯度的大小。
"""),
    code(r"""
OPTIMIZERS = {
    "SGD": lambda ps, lr: optim.SGD(ps, lr=lr),
    "动量": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9),
    "Nesterov": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda ps, lr: optim.Adagrad(ps, lr=lr),
    "RMSProp": lambda ps, lr: optim.RMSprop(ps, lr=lr),
    "Adam": lambda ps, lr: optim.Adam(ps, lr=lr),
}
LEARNING_RATES = {"SGD": 0.3, "动量": 0.1, "Nesterov": 0.1, "AdaGrad": 0.1, "RMSProp": 0.01, "Adam": 0.01}
RUN_LR_SWEEP = False      # True：重新搜索每个优化器的学习率


def train(make_optimizer, lr, epochs=15, batch_size=64, scheduler=None):
    model = digits_mlp()                                   # 同样的初始参数
    optimizer = make_optimizer(list(model.parameters()), lr)
    sched = scheduler(optimizer) if scheduler else None
    criterion = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)                         # 同样顺序的小批量
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):   # 丢掉不满一批的余数
            idx = order[start:start + batch_size]
            loss = criterion(model(X_train[idx]), y_train[idx])
            optimizer.zero_grad()
            model.backward(criterion.backward())
            optimizer.step()
            losses.append(float(loss))
        if sched:
            sched.step()                                   # 每轮结束更新一次学习率
    train_loss = float(criterion(model(X_train), y_train))
    test_acc = float((model(X_test).argmax(axis=1) == y_test).mean())
    return losses, train_loss, test_acc


if RUN_LR_SWEEP:
    grid = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
    for name, make in OPTIMIZERS.items():
        with np.errstate(over="ignore", invalid="ignore"):          # 过大的学习率可能发散：不打印警告
            finals = {lr: train(make, lr)[1] for lr in grid}
        LEARNING_RATES[name] = min(finals, key=lambda lr: finals[lr] if np.isfinite(finals[lr]) else np.inf)
        print(name, {lr: round(v, 3) for lr, v in finals.items()})

results = {name: train(make, LEARNING_RATES[name]) for name, make in OPTIMIZERS.items()}
print(f"{'优化器':<10} {'学习率':>8} {'训练损失':>8} {'测试准确率':>8}")
for name, (losses, train_loss, test_acc) in results.items():
    print(f"{name:<10} {LEARNING_RATES[name]:>10g} {train_loss:>11.3f} {test_acc:>12.1%}")
""", tags=[CHECK]),
    code(r"""
def smooth(x, k=21):                                       # 以一轮（21 步）为窗口的滑动平均
    return np.convolve(x, np.ones(k) / k, mode="valid")


fig, ax = plt.subplots(figsize=(8, 4.5))
for i, (name, (losses, _, acc)) in enumerate(results.items()):
    ax.plot(np.arange(len(smooth(losses))) + 21, smooth(losses), lw=1.8, color=f"C{i}",
            ls="--" if name in ("Nesterov", "RMSProp") else "-", label=f"{name}（α={LEARNING_RATES[name]:g}，测试 {acc:.1%}）")
ax.set_yscale("log")
ax.set_xlabel("训练步数")
ax.set_ylabel("小批量损失（每轮滑动平均，对数坐标）")
ax.set_title("手写数字 MLP：六种优化器的训练损失")
ax.legend(fontsize=9)
plt.show()
"""),
    md(r"""
在各自调好的学习率下，六种方法都能把这个小网络训练到 96%–97% 的测试准确率。损失曲线上 SGD 始终最慢，带动量的方法和自适应方法在前 100 步下降得快得多，之后彼此相差不大。测试准确率的差别不到 1 个百分点——只有 450 张测试图像时，1 个百分点约是 4–5 张图，
换一个随机种子名次就可能改变，这样的差别不足以说明谁更好。实践中常见的经验（不是这个小实验能证明的）是：

- **Adam** 对学习率和各层梯度尺度的差别较不敏感，$\alpha$ 在 $10^{-3}$ 附近往往就能工作，是尝试新模型时的好起点；
- **SGD + 动量** 需要仔细调学习率（常配合下一节的学习率调度），在许多视觉任务上调好后泛化得很好；
- **AdaGrad** 适合稀疏特征，但在长时间训练中步长会衰减到几乎为 0。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.9 schedules, clipping
cells += [
    md(r"""
## 3.3.9 学习率调度与梯度裁剪

**学习率调度。** 训练开始时大步走、接近收敛时小步走，通常比固定学习率更好。nnlib 提供与 PyTorch 同名的调度器，每轮结束调用一次 `scheduler.step()`，它改写优化器的 `param_groups[i]["lr"]`：

- `StepLR(optimizer, step_size, gamma)`：每 $s$ 轮（$s$ = `step_size`）把学习率乘以 $\gamma$，即 $\alpha_e = \alpha_0 \gamma^{\lfloor e / s \rfloor}$（$e$ 是轮数，从 0 开始）；
- `CosineAnnealingLR(optimizer, T_max, eta_min=0)`：沿半个余弦从 $\alpha_0$ 降到 $\eta_{\min}$，$\alpha_e = \eta_{\min} + (\alpha_0 - \eta_{\min}) \frac{1 + \cos(\pi e / T_{\max})}{2}$ {cite}`loshchilov2017sgdr`。
"""),
    code(r"""
def schedule(make_scheduler, epochs=15, lr=0.1):
    opt = optim.SGD([Parameter(np.zeros(1))], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    return rates


step_rates = schedule(lambda o: optim.StepLR(o, step_size=5, gamma=0.3))
cos_rates = schedule(lambda o: optim.CosineAnnealingLR(o, T_max=15))
print("StepLR(step_size=5, gamma=0.3): ", " ".join(f"{r:.3f}" for r in step_rates))
print("CosineAnnealingLR(T_max=15):     ", " ".join(f"{r:.3f}" for r in cos_rates))
""", tags=[CHECK]),
    code(r"""
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.step(range(15), step_rates, where="post", label="StepLR（每 5 轮 ×0.3）")
ax.plot(range(15), cos_rates, "o-", ms=3, label="CosineAnnealingLR（T_max = 15）")
ax.set_xlabel("轮数 e")
ax.set_ylabel("学习率")
ax.set_title("两种学习率调度（初始学习率 0.1）")
ax.legend()
plt.show()
"""),
    md(r"""
把余弦调度用在上一节的 SGD + 动量上，分别以搜索得到的学习率 0.1 和一个偏大的学习率 0.3 开始，与固定学习率比较：
"""),
    code(r"""
cosine = lambda o: optim.CosineAnnealingLR(o, T_max=15)
for lr in (0.1, 0.3):
    for label, sched in [("固定学习率", None), ("余弦调度", cosine)]:
        _, final_loss, acc = train(OPTIMIZERS["动量"], lr, scheduler=sched)
        print(f"动量，初始学习率 {lr}，{label}：训练损失 {final_loss:.3f}，测试准确率 {acc:.1%}")
""", tags=[CHECK]),
    md(r"""
结果并不是"加上调度就更好"：初始学习率为 0.1 时，余弦调度从第一轮起就在减小步长，15 轮内走得不够远，训练损失反而比固定学习率高；
初始学习率为 0.3 时，固定学习率的训练已经不稳定（损失停在 0.3 以上），余弦调度则让后期的步子变小，仍然收敛到很低的损失。调度的主要作用是**允许开头用更大的学习率，而在结尾稳定下来**；
训练越长，这个好处越明显。
"""),
    md(r"""
**梯度裁剪。** 3.2.6 节看到，一次过大的梯度就能让训练发散；循环神经网络（4.2 节）尤其容易出现这种"梯度爆炸"。`clip_grad_norm_(parameters, max_norm)` 把**所有参数的梯度看作一个长向量** $g$，
若 $\|g\|_2 > c$（$c$ = `max_norm`）就整体缩放 $g \leftarrow g \cdot c / \|g\|_2$：方向不变，长度被截到 $c$ {cite}`pascanu2013difficulty`。它在 `backward` 之后、`optimizer.step()` 之前调用，返回裁剪前的范数。
下面在 3.2.6 节那个"忘了缩放输入"的网络上看一步的梯度：
"""),
    code(r"""
nnlib.manual_seed(0)
net = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1)).double()
criterion = nn.MSELoss()
criterion(net(digits.data[:256]), digits.target[:256, None].astype(np.float64))     # 像素 0–16，未缩放
net.backward(criterion.backward())


def global_norm(params):
    return float(np.sqrt(sum(np.sum(p.grad**2) for p in params)))


before = optim.clip_grad_norm_(list(net.parameters()), max_norm=1.0)
print(f"裁剪前的梯度范数（clip_grad_norm_ 的返回值）: {float(before):.1f}")
print(f"裁剪后的梯度范数: {global_norm(net.parameters()):.3f}")
""", tags=[CHECK]),
    md(r"""
裁剪不改变梯度的方向，只限制一步能走多远。它是"保险丝"，不是修复：上例的根本问题是输入没有缩放。
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

| 方法 | 更新（$g_t$ 为梯度，运算逐元素） | 状态（nnlib/PyTorch 键名） | 解决了什么 |
|---|---|---|---|
| SGD | $\theta_t = \theta_{t-1} - \alpha g_t$ | 无 | 用小批量估计梯度，代价与数据量无关 |
| 动量 | $v_t = \mu v_{t-1} + g_t$，$\theta_t = \theta_{t-1} - \alpha v_t$ | `momentum_buffer` | 病态曲面上的振荡与缓慢 |
| Nesterov | $\theta_t = \theta_{t-1} - \alpha (g_t + \mu v_t)$ | `momentum_buffer` | 更早"刹车" |
| AdaGrad | $s_t = s_{t-1} + g_t^2$，$\theta_t = \theta_{t-1} - \alpha g_t / (\sqrt{s_t} + \varepsilon)$ | `sum` | 各坐标自己的步长（稀疏特征） |
| RMSProp | $r_t = \rho r_{t-1} + (1-\rho) g_t^2$，$\theta_t = \theta_{t-1} - \alpha g_t / (\sqrt{r_t} + \varepsilon)$ | `square_avg` | AdaGrad 的步长无限衰减 |
| Adam | $m_t, v_t$ 滑动平均，$\hat m_t = m_t / (1 - \beta_1^t)$，$\hat v_t = v_t / (1 - \beta_2^t)$，$\theta_t = \theta_{t-1} - \alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$ | `exp_avg`, `exp_avg_sq`, `step` | 动量 + 自适应步长 + 开头的偏差 |

- 偏差修正的原因：$m_0 = v_0 = 0$，梯度恒定时 $m_t = (1 - \beta_1^t) g$；$t = 10$ 时只有 65%。
- 没有处处最好的优化器；学习率往往比优化器的选择更重要。Adam 是好的起点，SGD + 动量 + 学习率调度调好后往往同样好。
- 学习率调度让后期的步子变小；梯度裁剪限制单步的长度，防止一次大梯度毁掉训练。

## 练习
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "手写动量法",
    r"""
实现 `momentum_path(grads, lr, mu)`：参数是一个标量，初值 $\theta_0 = 0$，第 $t$ 步的梯度是 `grads[t-1]`（事先给定的一串数），
按 3.3.2 节的公式（$v_0 = 0$）返回每步之后的 $\theta_1, \dots, \theta_T$（列表或数组）。自检会与 `optim.SGD(..., momentum=mu)` 比较。
""",
    r"""
def momentum_path(grads, lr, mu):
    raise NotImplementedError
""",
    r"""
def test_momentum_path():
    grads = [1.0, -2.0, 0.5, 3.0, 3.0, -1.0, 0.0, 2.0]
    theta = Parameter(np.zeros(1))
    opt = optim.SGD([theta], lr=0.1, momentum=0.8)
    truth = []
    for gr in grads:
        theta.grad = np.array([gr])
        opt.step()
        truth.append(float(theta.data[0]))
    got = np.asarray(momentum_path(grads, 0.1, 0.8), dtype=float).ravel()
    if got.shape != (len(grads),):
        return False, f"应返回 {len(grads)} 个数（每步之后的 θ），你的形状是 {got.shape}。"
    return np.allclose(got, truth, atol=1e-12), "与 optim.SGD 不一致。先更新 v = μv + g，再更新 θ = θ − αv。"


check_answer("练习 1", test_momentum_path)
""",
    r"""
def momentum_path(grads, lr, mu):
    theta, v, path = 0.0, 0.0, []
    for g in grads:
        v = mu * v + g              # v_t = μ v_{t-1} + g_t
        theta = theta - lr * v      # θ_t = θ_{t-1} − α v_t
        path.append(theta)
    return path
""",
    r"""
因为 $v_0 = 0$，第一步 $v_1 = g_1$，与 nnlib（和 PyTorch）"第一步直接把梯度作为速度"的写法一致。
""",
)

cells += ex.add(
    "从零实现 Adam",
    r"""
实现 `adam_path(grad_fn, theta0, lr, betas, eps, steps)`：从 `theta0`（NumPy 数组）出发，每步用 `grad_fn(theta)` 求梯度，按 3.3.5 节的公式走 `steps` 步，返回形状为 `(steps + 1, len(theta0))` 的数组（第 0 行是起点）。
自检会在病态二次函数上与 `nnlib.surfaces.trajectory(..., optim.Adam)` 比较。
""",
    r"""
def adam_path(grad_fn, theta0, lr, betas, eps, steps):
    raise NotImplementedError
""",
    r"""
def test_adam_path():
    surf = get_surface("quadratic")
    truth = trajectory(surf, lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6), 40).points
    got = np.asarray(adam_path(surf.gradient, np.array(surf.start), 0.05, (0.8, 0.99), 1e-6, 40))
    if got.shape != truth.shape:
        return False, f"形状应为 {truth.shape}，你的是 {got.shape}。第 0 行是起点。"
    return np.allclose(got, truth, atol=1e-10), "路径与 nnlib 的 Adam 不一致。t 从 1 开始；ε 加在 √v̂ 之后。"


check_answer("练习 2", test_adam_path)
""",
    r"""
def adam_path(grad_fn, theta0, lr, betas, eps, steps):
    beta1, beta2 = betas
    theta = np.array(theta0, dtype=float)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad_fn(theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(theta.copy())
    return np.array(path)
""",
    r"""
最容易错的两处：$t$ 必须从 1 开始（否则 $1 - \beta^0 = 0$）；$\varepsilon$ 加在 $\sqrt{\hat v_t}$ 之外，而不是 $\sqrt{\hat v_t + \varepsilon}$。
""",
)

cells += ex.add(
    "偏差什么时候可以忽略",
    r"""
写函数 `steps_until(beta, fraction)`：返回最小的正整数 $t$，使 $1 - \beta^t \ge$ `fraction`，即滑动平均的"权重之和"达到 `fraction`。
用它回答：$\beta_1 = 0.9$ 和 $\beta_2 = 0.999$ 时，各要多少步偏差才小于 1%（`fraction = 0.99`）？
""",
    r"""
def steps_until(beta, fraction):
    raise NotImplementedError
""",
    r"""
def test_steps_until():
    for beta, frac in [(0.9, 0.99), (0.999, 0.99), (0.5, 0.9), (0.99, 0.5)]:
        t = 1
        while 1 - beta**t < frac:
            t += 1
        got = steps_until(beta, frac)
        if got != t:
            return False, f"beta = {beta}, fraction = {frac}：应为 {t}，你的是 {got}。解 β^t ≤ 1 − fraction。"
    return True, ""


check_answer("练习 3", test_steps_until)
""",
    r"""
import math


def steps_until(beta, fraction):
    t = math.ceil(math.log(1 - fraction) / math.log(beta))   # β^t ≤ 1 − fraction
    while 1 - beta**t < fraction:                              # 防止对数的舍入误差
        t += 1
    while t > 1 and 1 - beta**(t - 1) >= fraction:
        t -= 1
    return t
""",
    r"""
$1 - \beta^t \ge f \iff t \ge \ln(1 - f) / \ln \beta$。$\beta_1 = 0.9$ 时是 44 步，$\beta_2 = 0.999$ 时是 4603 步：一阶矩的偏差很快消失，二阶矩的偏差要几千步——所以对 $v_t$ 的修正尤其重要。
""",
)

cells += ex.add(
    "AdaGrad 为什么越走越慢",
    r"""
梯度恒为 $g \ne 0$ 时，AdaGrad 第 $t$ 步移动的距离 $|\theta_t - \theta_{t-1}|$ 是多少？写出 `adagrad_step(t, lr, g)`（忽略 $\varepsilon$）。
自检会用 `optim.Adagrad` 在梯度恒为 $g = 3$ 时的实际步长检验。
""",
    r"""
def adagrad_step(t, lr, g):
    raise NotImplementedError
""",
    r"""
def test_adagrad_step():
    theta = Parameter(np.zeros(1))
    opt = optim.Adagrad([theta], lr=0.5)
    previous = 0.0
    for t in range(1, 51):
        theta.grad = np.array([3.0])
        opt.step()
        step = abs(float(theta.data[0]) - previous)
        previous = float(theta.data[0])
        if t in (1, 4, 25, 50) and not np.isclose(adagrad_step(t, 0.5, 3.0), step, rtol=1e-8):
            return False, f"t = {t}：实际步长 {step:.6f}，你的 {adagrad_step(t, 0.5, 3.0)}。s_t = t·g²。"
    return True, ""


check_answer("练习 4", test_adagrad_step)
""",
    r"""
def adagrad_step(t, lr, g):
    return lr / np.sqrt(t)          # α·|g| / √(t g²) = α / √t，与 g 无关
""",
    r"""
$s_t = t g^2$，步长 $\alpha |g| / \sqrt{t g^2} = \alpha / \sqrt{t}$：与梯度大小无关（这是自适应方法的共同点），但随 $t$ 单调衰减，第 100 步只剩第 1 步的十分之一。
RMSProp 的 $r_t \to g^2$，步长趋于常数 $\alpha$；Adam 经偏差修正后从第 1 步起就是 $\alpha$。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch03_3_optimizers", cells)
