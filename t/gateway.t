#!/usr/bin/perl

# The five queries end to end through nginx and the emulator: the answer is
# upstream's body byte for byte, the request that reached upstream is
# signed (the emulator checks every signature with its own implementation)
# and carries nothing of the client's.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Digest::SHA qw(sha1_hex);
use Test::More;

my $t = CiJobsTest->new(
    emulators => { plain => {}, token => { token => 'sts-session-token-1' } },
    http => <<'EOF');
    upstream ci_keepalive {
        server 127.0.0.1:%%EMU_plain%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /noslash {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /ka/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://ci_keepalive;
        }

        location /sts/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_security_token sts-session-token-1;
            ci_jobs_pass http://127.0.0.1:%%EMU_token%%;
        }

        location /nosts/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_token%%;
        }
    }
EOF

my $queue = 'p893bcda225bf4945a378da6662e81a89';

# one request through the gateway: the answer and what upstream saw
sub query {
    my ($target, %headers) = @_;
    $t->forget_upstream_requests;
    my $r = $t->get($target, %headers);
    my @seen = $t->upstream_requests('plain');
    return ($r, $seen[-1], scalar @seen);
}

sub states { return $_[0] =~ m{<JobsDetail>.*?<State>(\w+)</State>}gs }

sub authorization {
    my ($seen) = @_;
    my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
              @{ $seen->{headers} };
    return $a // '';
}

# --- the id lookups --------------------------------------------------------

for my $case (
    [ '/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f', '/jobs/j8d121820f5e411ec926ef19d53ba9c6f' ],
    [ '/ci/pic_jobs/c93984788066911ed89ed352d4d9d2084', '/pic_jobs/c93984788066911ed89ed352d4d9d2084' ],
    [ '/ci/ai_jobs/a8d121820f5e411ec926ef19d53ba9c6f', '/ai_jobs/a8d121820f5e411ec926ef19d53ba9c6f' ],
    [ '/ci/inventorytriggerjob/b3deffea2f84911ec9cb15254008618d9', '/inventorytriggerjob/b3deffea2f84911ec9cb15254008618d9' ],
) {
    my ($target, $upstream) = @$case;
    my ($r, $seen, $n) = query($target);
    my ($id) = $target =~ m{/(\w+)$};

    is($r->{status}, 200, "$target: 200");
    is($n, 1, "$target: one upstream request");
    is($seen->{target}, $upstream, "$target: upstream target");
    is($seen->{signature}, 'ok', "$target: the emulator accepts the signature");
    like($r->{body}, qr{<JobId>$id</JobId>}, "$target: the job");
    is($r->{headers}{'content-type'}, 'application/xml', "$target: XML");
    is($r->{headers}{'content-length'}, length $r->{body},
       "$target: Content-Length");
    is(sha1_hex($r->{body}), $seen->{response_sha1},
       "$target: byte-identical to what the emulator sent");
    like($r->{headers}{'x-ci-request-id'} // '', qr/\S/,
         "$target: x-ci-request-id passed on");
}

# several ids, some missing
my ($r, $seen) = query('/ci/jobs/jobsSuccess1,jobsRunning1,nosuchjob1');
is($r->{status}, 200, 'three ids: 200');
is($seen->{target}, '/jobs/jobsSuccess1,jobsRunning1,nosuchjob1',
   'three ids: upstream target');
is_deeply([ states($r->{body}) ], [ 'Success', 'Running' ],
          'three ids: two jobs, in order');
like($r->{body}, qr{<NonExistJobIds>nosuchjob1</NonExistJobIds>},
     'three ids: the missing one');

my $ten = join ',', map { "jobsSuccess$_" } 1 .. 10;
($r, $seen) = query("/ci/jobs/$ten");
is($r->{status}, 200, 'ten ids: 200');
is($seen->{signature}, 'ok', 'ten ids: signed');

# --- what goes upstream, and what comes back -------------------------------

($r, $seen) = query('/ci/jobs/jobsSuccess1',
                    Authorization => 'q-sign-algorithm=sha1&q-ak=AKIDclient',
                    Cookie => 'session=client-secret',
                    'X-Forwarded-For' => '203.0.113.7',
                    'X-Real-IP' => '203.0.113.7',
                    'User-Agent' => 'client-agent',
                    'Accept-Encoding' => 'gzip',
                    'X-Custom' => 'custom');

my %sent = map { lc $_->[0] => $_->[1] } @{ $seen->{headers} };
is_deeply([ sort keys %sent ], [ qw(authorization host user-agent) ],
          'only Host, Authorization and User-Agent go upstream');
is($sent{host}, $CiJobsTest::HOST, 'Host is the bucket host');
like($sent{authorization}, qr/^q-sign-algorithm=sha1&q-ak=\Q$CiJobsTest::SECRET_ID\E&/,
     'Authorization is the gateway\'s');
like($sent{authorization}, qr/&q-header-list=host&/, 'host is signed');
like($sent{'user-agent'}, qr{^ngx_http_ci_jobs_module/\d}, 'User-Agent');
is($seen->{version}, 'HTTP/1.1', 'HTTP/1.1 upstream');

ok(!exists $r->{headers}{'set-cookie'}, 'no upstream Set-Cookie comes back');
ok(!exists $r->{headers}{'x-emulator-private'},
   'no other upstream header comes back');
unlike($r->{headers}{server} // '', qr/tencent/, 'no upstream Server');

# --- the list --------------------------------------------------------------

($r, $seen) = query("/ci/jobs?queueId=$queue&tag=Translation");
is($r->{status}, 200, 'list: 200');
is($seen->{target}, "/jobs?queueId=$queue&tag=Translation",
   'list: upstream target');
is($seen->{signature}, 'ok', 'list: signed');
like(authorization($seen), qr/&q-url-param-list=queueid;tag&/,
     'list: every parameter signed');
is(scalar(() = $r->{body} =~ /<JobsDetail>/g), 10, 'list: 10 by default');

# paging: size=7 until NextToken is empty gives every job once
my $all = $t->get("/ci/jobs?queueId=$queue&tag=Translation&size=100");
my @all_ids = $all->{body} =~ m{<JobId>(\w+)</JobId>}g;
ok(@all_ids > 14, 'list: the queue has more than two pages of 7');

my (@paged, $token, $pages);
do {
    my $target = "/ci/jobs?queueId=$queue&tag=Translation&size=7"
                 . (defined $token && length $token ? "&nextToken=$token" : '');
    my $page = $t->get($target);
    is($page->{status}, 200, "list page " . ++$pages . ": 200");
    push @paged, $page->{body} =~ m{<JobId>(\w+)</JobId>}g;
    ($token) = $page->{body} =~ m{<NextToken>([^<]*)</NextToken>};
} while (defined $token && length $token && $pages < 20);

is_deeply([ sort @paged ], [ sort @all_ids ], 'paging returns every job once');

# each optional parameter: signed, passed on, and honoured by the emulator
my %optional = (
    states => 'Success,Failed',
    orderByTime => 'Asc',
    size => '3',
    workflowId => 'w1',
    inventoryTriggerJobId => 'inv1',
    inputObject => 'input/a b+c.txt',
    startCreationTime => '2001-01-01T00:00:00+0800',
    endCreationTime => '2099-01-01T00:00:00-0130',
);

for my $name (sort keys %optional) {
    my $value = $optional{$name};
    (my $wire = $value) =~ s/([^A-Za-z0-9\-_.~+:])/sprintf '%%%02X', ord $1/ge;
    ($r, $seen) = query("/ci/jobs?queueId=$queue&tag=Translation&$name=$wire");
    is($r->{status}, 200, "list with $name: 200") or diag($r->{body});
    is($seen->{signature}, 'ok', "list with $name: signature accepted");
    like($seen->{target}, qr/[?&]\Q$name\E=/, "list with $name: passed on");
}

($r) = query("/ci/jobs?queueId=$queue&tag=Translation&states=Failed&size=100");
my @s = states($r->{body});
ok(@s && !grep({ $_ ne 'Failed' } @s), 'states=Failed: only failed jobs');

my %every = (%optional, size => 100);
my $q = join '&', map {
    (my $v = $every{$_}) =~ s/([^A-Za-z0-9\-_.~])/sprintf '%%%02X', ord $1/ge;
    "$_=$v"
} sort keys %every;
($r, $seen) = query("/ci/jobs?queueId=$queue&tag=Translation&$q&nextToken=x1");
is($seen->{signature}, 'ok', 'list with every parameter: signature accepted');
like(authorization($seen),
     qr/q-url-param-list=endcreationtime;inputobject;inventorytriggerjobid;nextToken;orderbytime;queueid;size;startcreationtime;states;tag;workflowid&/i,
     'list with every parameter: all of them signed');

# a fragment is the client's own business: never sent upstream
($r, $seen) = query("/ci/jobs?queueId=$queue&tag=Translation&size=5#frag");
is($r->{status}, 200, 'a fragment: 200');
is($seen->{target}, "/jobs?queueId=$queue&tag=Translation&size=5",
   'a fragment: not sent upstream');

# the client's Host, plain or in an absolute-form request line, changes
# nothing upstream
$t->forget_upstream_requests;
$r = $t->raw("GET /ci/jobs/jobsSuccess1 HTTP/1.1\r\nHost: evil.example.com"
             . "\r\nConnection: close\r\n\r\n");
$t->raw("GET http://evil.example.com/ci/jobs/jobsSuccess1 HTTP/1.1\r\n"
        . "Host: other.example.com\r\nConnection: close\r\n\r\n");
my @hosts = map { my %h = map { lc $_->[0] => $_->[1] } @{ $_->{headers} };
                  $h{host} } $t->upstream_requests('plain');
is_deeply(\@hosts, [ $CiJobsTest::HOST, $CiJobsTest::HOST ],
          'another Host or an absolute URI: still the bucket\'s host');

# --- prefixes --------------------------------------------------------------

is($t->get('/noslash/jobs/jobsSuccess1')->{status}, 200,
   'location without a trailing slash');
is(CiJobsTest::error_code($t->get('/noslashjobs/jobsSuccess1')), 'NoSuchApi',
   'no API glued to the prefix');

# --- keepalive through an upstream block -----------------------------------

$t->forget_upstream_requests;
is($t->get('/ka/jobs/jobsSuccess1')->{status}, 200, "keepalive: $_")
    for 1 .. 4;
my @pids = map { $_->{pid} } $t->upstream_requests('plain');
is(scalar @pids, 4, 'keepalive: four upstream requests');
my %conns = map { $_ => 1 } @pids;
is(scalar keys %conns, 1, 'keepalive: over one upstream connection');

# --- a security token --------------------------------------------------------

$r = $t->get('/sts/jobs/jobsSuccess1');
is($r->{status}, 200, 'with the token: 200');
my ($tok) = $t->upstream_requests('token');
%sent = map { lc $_->[0] => $_->[1] } @{ $tok->{headers} };
is($sent{'x-ci-security-token'}, 'sts-session-token-1',
   'x-ci-security-token sent');
unlike($sent{authorization}, qr/security-token/, 'the token is not signed');

$r = $t->get('/nosts/jobs/jobsSuccess1');
is($r->{status}, 403, 'without the token: upstream\'s 403 passed on');
like($r->{body}, qr{<Code>\w+</Code>}, 'upstream\'s error body passed on');

$t->done;
done_testing;
